#include "CRedisReader.h"

#include <pthread.h>

static redisReplyObjectFunctions limited;
static void *(*hiredis_create_array)(const redisReadTask *, int);
static pthread_once_t limited_once = PTHREAD_ONCE_INIT;

static void *create_array(const redisReadTask *task, int elements) {
    if (elements > TELEMETRY_REDIS_MAX_ARRAY_ELEMENTS) return NULL;
    return hiredis_create_array(task, elements);
}

/* hiredis keeps its default functions private; a fresh reader points at them. */
static void make_limited(void) {
    redisReader *probe = redisReaderCreate();
    if (probe == NULL || probe->fn == NULL) {
        if (probe != NULL) redisReaderFree(probe);
        return;
    }
    limited = *probe->fn;
    hiredis_create_array = limited.createArray;
    limited.createArray = create_array;
    redisReaderFree(probe);
}

void telemetry_redis_reader_limit(redisReader *reader) {
    pthread_once(&limited_once, make_limited);
    if (reader != NULL && hiredis_create_array != NULL) reader->fn = &limited;
}
