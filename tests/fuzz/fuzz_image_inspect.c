/*
 * Fuzzes the upload check with whatever bytes a client may send, and makes
 * a small variant of what it accepts. Besides the sanitizers: the check
 * answers only its documented codes, always with a reason; what it accepts
 * has the format its magic numbers say and fits the limits; the variant of
 * an accepted image either works (and is no wider than asked) or fails
 * cleanly, leaving the output empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/buf.h"
#include "core/base/rc.h"
#include "core/image/image.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* Small, so that decoding an accepted input stays quick. */
static const struct image_limits fuzz_limits = {
    .max_bytes = 1 << 20, .max_pixels = 256 * 256, .max_width = 1024, .max_height = 1024};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct image_info info;
    char detail[256] = "";
    int rc = image_inspect(data, size, NULL, &fuzz_limits, &info, detail, sizeof detail);
    FUZZ_CHECK(rc == RC_OK || rc == RC_INVALID || rc == RC_UNSUPPORTED_MEDIA || rc == RC_TOO_LARGE);
    if (rc != RC_OK) {
        FUZZ_CHECK(detail[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(info.width >= 1 && info.width <= fuzz_limits.max_width);
    FUZZ_CHECK(info.height >= 1 && info.height <= fuzz_limits.max_height);
    FUZZ_CHECK((int64_t)info.width * info.height <= fuzz_limits.max_pixels);
    static const char *const magic[] = {
        [IMAGE_PNG] = "\x89PNG", [IMAGE_JPEG] = "\xff\xd8\xff", [IMAGE_WEBP] = "RIFF"};
    FUZZ_CHECK(memcmp(data, magic[info.format], strlen(magic[info.format])) == 0);
    /* the type it found agrees with itself */
    FUZZ_CHECK(image_inspect(data, size, image_format_type(info.format), &fuzz_limits, &info,
                             detail, sizeof detail) == RC_OK);

    struct buf out;
    const char *type = NULL;
    buf_init(&out, 4 << 20);
    rc = image_variant(data, size, 32, &out, &type, detail, sizeof detail);
    FUZZ_CHECK(rc == RC_OK || rc == RC_INVALID);
    if (rc == RC_OK) {
        struct image_info variant;
        FUZZ_CHECK(image_inspect(out.data, out.len, type, &fuzz_limits, &variant, detail,
                                 sizeof detail) == RC_OK);
        FUZZ_CHECK(variant.width <= 32 && variant.width <= info.width);
    } else {
        FUZZ_CHECK(out.len == 0 && detail[0] != '\0');
    }
    buf_cleanup(&out);
    return 0;
}
