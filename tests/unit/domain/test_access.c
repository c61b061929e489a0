/* The access rules of the API (domain/access.c): every route of every
 * service that checks tokens through core has exactly one rule, no rule is
 * left over from a route that is gone, and a rule naming a path parameter
 * names one its route has. */
#include "support/test_support.h"

#include "core/auth/policy.h"
#include "core/base/bug.h"
#include "domain/access.h"
#include "svc/auth/auth.h"
#include "svc/history/history.h"
#include "svc/payment/payment.h"
#include "svc/pointer/pointer.h"
#include "svc/purchase/purchase.h"
#include "svc/webtoon/webtoon.h"

static const struct service_def *const services[] = {
    &pointer_service, &payment_service, &history_service, &webtoon_service, &purchase_service,
};

static void test_every_route_has_a_rule(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(services); i++) {
        assert_false(services[i]->open_access);
        assert_ptr_equal(services[i]->access_rules, domain_access_rules);
        for (const struct http_route *r = services[i]->routes; r->method; r++) {
            const struct auth_route_rule *rule =
                auth_rule_for(domain_access_rules, r->method, r->pattern);
            if (!rule)
                fail_msg("%s: no access rule for %s %s", services[i]->name, r->method, r->pattern);
            if (rule->param) {
                char braced[64];
                snprintf(braced, sizeof braced, "{%s}", rule->param);
                assert_non_null(strstr(r->pattern, braced));
            }
        }
    }
    /* The issuer checks its callers itself and needs no rules. */
    assert_true(auth_service.open_access);
}

static bool is_a_route(const struct auth_route_rule *rule)
{
    for (size_t i = 0; i < ARRAY_LEN(services); i++)
        for (const struct http_route *r = services[i]->routes; r->method; r++)
            if (!strcmp(r->method, rule->method) && !strcmp(r->pattern, rule->pattern))
                return true;
    return false;
}

static void test_no_rule_without_a_route(void **state)
{
    (void)state;
    size_t n = 0;
    for (const struct auth_route_rule *rule = domain_access_rules; rule->method; rule++, n++) {
        if (!is_a_route(rule))
            fail_msg("access rule for %s %s, a route no service has", rule->method, rule->pattern);
        /* One rule per route: the first one found is the only one. */
        assert_ptr_equal(auth_rule_for(domain_access_rules, rule->method, rule->pattern), rule);
    }
    assert_true(n > 0);
}

static void test_lookup(void **state)
{
    (void)state;
    const struct auth_route_rule *rule =
        auth_rule_for(domain_access_rules, "PUT", "/pointers/{id}/withdraw");
    assert_non_null(rule);
    assert_int_equal(rule->rule, AUTH_ACT_PARAM);
    assert_string_equal(rule->param, "id");
    assert_int_equal(auth_rule_for(domain_access_rules, "GET", "/webtoons")->rule, AUTH_PUBLIC);
    assert_null(auth_rule_for(domain_access_rules, "DELETE", "/webtoons/{id}"));
    assert_null(auth_rule_for(domain_access_rules, "GET", "/webtoons/"));
    assert_null(auth_rule_for(NULL, "GET", "/webtoons")); /* no table: no rule */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_has_a_rule),
        cmocka_unit_test(test_no_rule_without_a_route),
        cmocka_unit_test(test_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
