/* The webtoon service. */
#include "svc/webtoon/webtoon.h"

const struct service_def webtoon_service = {
    .name = "webtoon",
    .port_setting = CONFIG_WEBTOON_PORT,
};
