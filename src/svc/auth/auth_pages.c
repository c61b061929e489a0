/*
 * The issuer's HTML: the sign-in and sign-up forms and a page for messages.
 * Server-rendered, no JavaScript, one small stylesheet inline; every value
 * that came from a request is HTML-escaped. Pages are never cached and
 * never framed, and send no Referer (the flow's parameters are in links).
 */
#include <stdio.h>
#include <string.h>

#include "core/base/rc.h"
#include "svc/auth/auth.h"

#define AUTH_PAGE_MAX (64 * 1024)

static const char auth_css[] =
    "*{box-sizing:border-box}"
    "body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;"
    "font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2430;"
    "background:#f3f5f9}"
    "main{width:100%;max-width:380px;margin:24px;padding:32px;background:#fff;border-radius:12px;"
    "box-shadow:0 2px 12px rgba(20,30,60,.08)}"
    ".brand{font-weight:700;color:#00b35f;letter-spacing:.02em;margin:0 0 4px}"
    "h1{font-size:1.4rem;margin:0 0 20px}"
    "label{display:block;font-weight:600;margin:14px 0 6px}"
    "input[type=text],input[type=password]{width:100%;padding:10px 12px;font:inherit;"
    "border:1px solid #c7cfdb;border-radius:8px}"
    "input:focus{outline:2px solid #00b35f;outline-offset:1px;border-color:#00b35f}"
    "button{width:100%;margin-top:22px;padding:11px;font:inherit;font-weight:600;color:#fff;"
    "background:#00b35f;border:0;border-radius:8px;cursor:pointer}"
    "button:hover{background:#009c52}"
    ".error{margin:0 0 12px;padding:10px 12px;color:#8a1c1c;background:#fdecec;"
    "border-radius:8px}"
    ".hint{font-size:.875rem;color:#5b6575;margin:6px 0 0}"
    ".alt{margin:20px 0 0;text-align:center;font-size:.95rem}"
    "a{color:#007a41}";

/* The start of a page titled <title>. */
static int auth_page_open(struct buf *b, const char *title)
{
    int rc = buf_append_str(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                               "<meta name=\"viewport\" content=\"width=device-width,initial-"
                               "scale=1\"><title>");
    if (rc == RC_OK)
        rc = auth_html_escape(b, title);
    if (rc == RC_OK)
        rc = buf_appendf(b,
                         " · webtoon</title><style>%s</style></head><body><main>"
                         "<p class=\"brand\">webtoon</p><h1>",
                         auth_css);
    if (rc == RC_OK)
        rc = auth_html_escape(b, title);
    if (rc == RC_OK)
        rc = buf_append_str(b, "</h1>");
    return rc;
}

/* Sends <b> as the page, with the headers every page carries. */
static int auth_page_send(struct http_req *req, int status, struct buf *b, int rc)
{
    if (rc == RC_OK)
        rc = buf_append_str(b, "</main></body></html>\n");
    if (rc != RC_OK) {
        buf_cleanup(b);
        return rc == RC_TOO_LARGE ? http_fail(req, RC_INVALID, "the page would be too large") : rc;
    }
    http_reply_header(req, "Cache-Control", "no-store");
    http_reply_header(req, "Content-Security-Policy",
                      "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
    http_reply_header(req, "X-Frame-Options", "DENY");
    http_reply_header(req, "X-Content-Type-Options", "nosniff");
    http_reply_header(req, "Referrer-Policy", "no-referrer");
    if (status == 429)
        http_reply_header(req, "Retry-After", "60");
    rc = http_reply(req, status, "text/html; charset=utf-8", b->data, b->len);
    buf_cleanup(b);
    return rc;
}

/* The authorize parameters of <g>, as a query string, for the links
 * between sign-in and sign-up. */
static int auth_page_flow_query(struct buf *b, const struct auth_grant *g)
{
    const struct {
        const char *name, *value;
    } p[] = {
        {"client_id", g->client_id},
        {"redirect_uri", g->redirect_uri},
        {"scope", g->scope},
        {"state", g->state},
        {"nonce", g->nonce},
        {"code_challenge", g->code_challenge},
        {"code_challenge_method", "S256"},
    };
    int rc = buf_append_str(b, "response_type=code");
    for (size_t i = 0; rc == RC_OK && i < ARRAY_LEN(p); i++) {
        if (!*p[i].value)
            continue;
        rc = buf_appendf(b, "&%s=", p[i].name);
        if (rc == RC_OK)
            rc = auth_url_encode(b, p[i].value);
    }
    return rc;
}

int auth_page_form(struct http_req *req, int status, enum auth_page page, const char *flow_token,
                   const struct auth_grant *g, const char *username, const char *error)
{
    bool signup = page == AUTH_PAGE_SIGNUP;
    struct buf b, q;
    buf_init(&b, AUTH_PAGE_MAX);
    buf_init(&q, AUTH_PAGE_MAX / 4);
    int rc = auth_page_open(&b, signup ? "Create your account" : "Sign in");
    if (rc == RC_OK && error) {
        rc = buf_append_str(&b, "<p class=\"error\" role=\"alert\">");
        if (rc == RC_OK)
            rc = auth_html_escape(&b, error);
        if (rc == RC_OK)
            rc = buf_append_str(&b, "</p>");
    }
    if (rc == RC_OK)
        rc = buf_appendf(&b,
                         "<form method=\"post\" action=\"/%s\" novalidate>"
                         "<input type=\"hidden\" name=\"flow\" value=\"",
                         signup ? "signup" : "authorize");
    if (rc == RC_OK)
        rc = auth_html_escape(&b, flow_token);
    if (rc == RC_OK)
        rc = buf_append_str(&b, "\"><label for=\"username\">Username</label>"
                                "<input type=\"text\" id=\"username\" name=\"username\" "
                                "autocomplete=\"username\" autocapitalize=\"none\" "
                                "spellcheck=\"false\" maxlength=\"64\" required autofocus "
                                "value=\"");
    if (rc == RC_OK)
        rc = auth_html_escape(&b, username ? username : "");
    if (rc == RC_OK)
        rc = buf_appendf(&b,
                         "\">%s<label for=\"password\">Password</label>"
                         "<input type=\"password\" id=\"password\" name=\"password\" "
                         "autocomplete=\"%s\" required>%s"
                         "<button type=\"submit\">%s</button></form>",
                         signup ? "<p class=\"hint\">Letters, digits and . _ : - ; up to 64.</p>"
                                : "",
                         signup ? "new-password" : "current-password",
                         signup ? "<p class=\"hint\">At least 8 characters.</p>" : "",
                         signup ? "Create account" : "Sign in");
    if (rc == RC_OK)
        rc = auth_page_flow_query(&q, g);
    if (rc == RC_OK)
        rc = buf_appendf(&b, "<p class=\"alt\">%s <a href=\"/%s?",
                         signup ? "Already have an account?" : "New here?",
                         signup ? "authorize" : "signup");
    if (rc == RC_OK)
        rc = auth_html_escape(&b, q.data ? q.data : "");
    if (rc == RC_OK)
        rc = buf_appendf(&b, "\">%s</a></p>", signup ? "Sign in" : "Create an account");
    buf_cleanup(&q);
    return auth_page_send(req, status, &b, rc);
}

int auth_page_message(struct http_req *req, int status, const char *title, const char *message)
{
    struct buf b;
    buf_init(&b, AUTH_PAGE_MAX);
    int rc = auth_page_open(&b, title);
    if (rc == RC_OK)
        rc = buf_append_str(&b, status >= 400 ? "<p class=\"error\" role=\"alert\">" : "<p>");
    if (rc == RC_OK)
        rc = auth_html_escape(&b, message);
    if (rc == RC_OK)
        rc = buf_append_str(&b, "</p>");
    return auth_page_send(req, status, &b, rc);
}
