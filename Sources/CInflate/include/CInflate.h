#ifndef CINFLATE_H
#define CINFLATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Results of `tb_gunzip`.
enum {
    TB_GUNZIP_OK = 0,
    TB_GUNZIP_TOO_LARGE = -1,  ///< the output would exceed `limit`
    TB_GUNZIP_CORRUPT = -2,    ///< not gzip, a bad checksum, or bytes after the last member that are not gzip
    TB_GUNZIP_TRUNCATED = -3,  ///< the input ends inside a member (no trailer)
    TB_GUNZIP_NO_MEMORY = -4,
};

/// Inflates a complete gzip body (one member or several concatenated, RFC 1952) into a buffer it
/// allocates with malloc (`*out`, `*out_len`; free it with `free`), growing it as needed but never
/// past `limit` bytes: a gzip bomb costs at most `limit` bytes of memory. On failure `*out` is NULL.
int tb_gunzip(const uint8_t *in, size_t in_len, size_t limit, uint8_t **out, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
