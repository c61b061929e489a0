/* How a service finds its engines from the configuration: the store URL
 * template with its {service} placeholder (one database per service), the
 * embedded default, and the bus options that pick Kafka when brokers are
 * configured. */
#include "support/test_support.h"

#include "core/base/rc.h"
#include "core/config/config.h"
#include "core/service/service.h"

static void load(struct config *cfg)
{
    char err[256] = "";
    if (config_load(cfg, err, sizeof err) != RC_OK)
        fail_msg("config: %s", err);
}

static void test_store_url_template(void **state)
{
    (void)state;
    struct config cfg;
    char url[128];
    setenv("WEBTOON_STORE_URL", "postgres://db:5432/webtoon_{service}", 1);
    load(&cfg);
    service_store_url(&cfg, "pointer", url, sizeof url);
    assert_string_equal(url, "postgres://db:5432/webtoon_pointer");
    config_cleanup(&cfg);

    setenv("WEBTOON_STORE_URL", "postgres://{service}-db/{service}?application_name={service}", 1);
    load(&cfg);
    service_store_url(&cfg, "history", url, sizeof url);
    assert_string_equal(url, "postgres://history-db/history?application_name=history");
    char small[16];
    service_store_url(&cfg, "history", small, sizeof small); /* cut, never overrun */
    assert_string_equal(small, "postgres://hist");
    config_cleanup(&cfg);

    setenv("WEBTOON_STORE_URL", "postgres://db/shared{servic}", 1);
    load(&cfg);
    service_store_url(&cfg, "payment", url, sizeof url);
    assert_string_equal(url, "postgres://db/shared{servic}");
    config_cleanup(&cfg);

    unsetenv("WEBTOON_STORE_URL");
    setenv("WEBTOON_DATA_DIR", "/data", 1);
    load(&cfg);
    service_store_url(&cfg, "webtoon", url, sizeof url);
    assert_string_equal(url, "sqlite:/data/webtoon.db");
    config_cleanup(&cfg);
    unsetenv("WEBTOON_DATA_DIR");
}

static void test_bus_options(void **state)
{
    (void)state;
    struct config cfg;
    struct bus_options o;
    load(&cfg);
    service_bus_options(&cfg, "/var/events.db", &o);
    assert_string_equal(o.event_log, "/var/events.db");
    assert_string_equal(o.kafka_brokers, ""); /* the embedded log */
    assert_string_equal(o.topic, "webtoon.events");
    assert_int_equal(o.partitions, 6);
    config_cleanup(&cfg);

    setenv("WEBTOON_KAFKA_BROKERS", "k1:9092,k2:9092", 1);
    setenv("WEBTOON_TOPIC_PARTITIONS", "12", 1);
    load(&cfg);
    service_bus_options(&cfg, "/var/events.db", &o);
    assert_string_equal(o.kafka_brokers, "k1:9092,k2:9092");
    assert_int_equal(o.partitions, 12);
    config_cleanup(&cfg);
    unsetenv("WEBTOON_KAFKA_BROKERS");
    unsetenv("WEBTOON_TOPIC_PARTITIONS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_url_template),
        cmocka_unit_test(test_bus_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
