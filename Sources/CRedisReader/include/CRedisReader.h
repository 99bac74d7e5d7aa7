#ifndef TELEMETRY_REDIS_READER_H
#define TELEMETRY_REDIS_READER_H

#include <hiredis/hiredis.h>

/// The largest array header a reply may carry. hiredis 0.14 (Debian 12) allocates the element
/// pointers as soon as the header arrives, so `*1111111111` alone would ask for about 9 GB;
/// hiredis 1.x bounds it with `maxelements`, this is the same bound for 0.14. No reply this
/// project asks for comes near it (stream reads, claims and pending lists are bounded by COUNT).
#define TELEMETRY_REDIS_MAX_ARRAY_ELEMENTS (1 << 24)

/// Makes `reader` refuse an array header over TELEMETRY_REDIS_MAX_ARRAY_ELEMENTS: the reader
/// then fails with REDIS_ERR_OOM instead of allocating. Every other reply is built by hiredis's
/// own functions, so replies are still freed with freeReplyObject.
void telemetry_redis_reader_limit(redisReader *reader);

#endif
