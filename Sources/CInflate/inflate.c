#include "CInflate.h"

#include <stdlib.h>
#include <zlib.h>

int tb_gunzip(const uint8_t *in, size_t in_len, size_t limit, uint8_t **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    z_stream stream = {0};
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) return TB_GUNZIP_NO_MEMORY;
    size_t capacity = in_len * 4 + 4096;
    if (capacity > limit) capacity = limit;
    uint8_t *buffer = malloc(capacity ? capacity : 1);
    if (!buffer) { inflateEnd(&stream); return TB_GUNZIP_NO_MEMORY; }
    size_t used = 0;
    int result = TB_GUNZIP_OK;
    stream.next_in = (Bytef *)in;
    stream.avail_in = (uInt)(in_len > UINT32_MAX ? UINT32_MAX : in_len);
    for (;;) {
        if (used == capacity) {
            if (capacity >= limit) { result = TB_GUNZIP_TOO_LARGE; break; }
            size_t grown = capacity * 2 > limit ? limit : capacity * 2;
            uint8_t *bigger = realloc(buffer, grown);
            if (!bigger) { result = TB_GUNZIP_NO_MEMORY; break; }
            buffer = bigger;
            capacity = grown;
        }
        stream.next_out = buffer + used;
        stream.avail_out = (uInt)(capacity - used);
        int rc = inflate(&stream, Z_NO_FLUSH);
        used = capacity - stream.avail_out;
        if (rc == Z_STREAM_END) {
            if ((size_t)(stream.next_in - in) >= in_len) break;  /* the last member ended with the input */
            /* another member follows */
            if (inflateReset(&stream) != Z_OK) { result = TB_GUNZIP_CORRUPT; break; }
            continue;
        }
        if (rc == Z_OK) continue;
        if (rc == Z_BUF_ERROR) {
            if (stream.avail_out == 0) continue;        /* output full: grow */
            result = TB_GUNZIP_TRUNCATED;               /* input ended inside a member */
            break;
        }
        result = rc == Z_MEM_ERROR ? TB_GUNZIP_NO_MEMORY : TB_GUNZIP_CORRUPT;
        break;
    }
    inflateEnd(&stream);
    if (result != TB_GUNZIP_OK) { free(buffer); return result; }
    *out = buffer;
    *out_len = used;
    return TB_GUNZIP_OK;
}
