/*
 * Result codes: the one error vocabulary of the whole program.
 *
 * Every fallible function returns an `int` that is RC_OK (0) or one of the
 * codes below. Each code carries the HTTP status it maps to, a stable slug
 * used in the problem+json `type`, and a short human title. The list is
 * append-only: codes are logged and counted by name, so never reuse or
 * reorder a name.
 */
#ifndef WEBTOON_BASE_RC_H
#define WEBTOON_BASE_RC_H

/* X(name, http_status, slug, title) */
#define RC_MAP(X)                                                                                  \
    X(OK, 200, "ok", "OK")                                                                         \
    X(NOMEM, 503, "out-of-memory", "Out of memory")                                                \
    X(INTERNAL, 500, "internal", "Internal error")                                                 \
    X(INVALID, 400, "invalid-request", "Invalid request")                                          \
    X(BAD_JSON, 400, "invalid-json", "Request body is not valid JSON")                             \
    X(UNSUPPORTED_MEDIA, 415, "unsupported-media-type", "Unsupported media type")                  \
    X(NOT_FOUND, 404, "not-found", "Not found")                                                    \
    X(METHOD_NOT_ALLOWED, 405, "method-not-allowed", "Method not allowed")                         \
    X(CONFLICT, 409, "conflict", "Conflict")                                                       \
    X(TOO_LARGE, 413, "payload-too-large", "Request body too large")                               \
    X(UNPROCESSABLE, 422, "unprocessable", "Request cannot be processed")                          \
    X(UNAVAILABLE, 503, "unavailable", "Service unavailable")                                      \
    X(STORE, 503, "store-error", "Storage unavailable")                                            \
    X(BUS, 503, "bus-error", "Event bus unavailable")                                              \
    X(IO, 500, "io-error", "I/O error")                                                            \
    X(CONFIG, 500, "config-error", "Invalid configuration")                                        \
    X(BAD_EVENT, 500, "bad-event", "Malformed event")                                              \
    X(NOT_IDEMPOTENT, 422, "idempotency-key-reused",                                               \
      "Idempotency-Key reused with another request")                                               \
    X(UNKNOWN_USER, 404, "unknown-user", "Unknown user")                                           \
    X(USER_WITHDRAWN, 409, "user-withdrawn", "User has withdrawn")                                 \
    X(ALREADY_EXISTS, 409, "already-exists", "Already exists")                                     \
    X(INSUFFICIENT_POINTS, 409, "insufficient-points", "Not enough points")                        \
    X(NOT_OWNED, 403, "not-owned", "Episode not owned")                                            \
    X(INVALID_STATE, 409, "invalid-state", "Not allowed in the current state")                     \
    X(PAYMENT_DECLINED, 402, "payment-declined", "Payment declined")                               \
    X(TIMEOUT, 504, "timeout", "Timed out")                                                        \
    X(RETRY, 503, "retry", "Concurrent update, try again")                                         \
    X(ALREADY_APPLIED, 200, "already-applied", "Already applied")                                  \
    X(CATCHING_UP, 503, "catching-up", "Not caught up with recent events yet")                     \
    X(PRICE_MISMATCH, 409, "price-mismatch", "Price does not match the current rate")              \
    X(UNAUTHENTICATED, 401, "unauthenticated", "Sign-in required")                                 \
    X(FORBIDDEN, 403, "forbidden", "Not allowed for this user")

enum rc {
#define RC__ENUM(name, status, slug, title) RC_##name,
    RC_MAP(RC__ENUM)
#undef RC__ENUM
        RC__COUNT
};

/* Name of <rc> without prefix ("NOT_FOUND"); "UNKNOWN" for out-of-range. */
const char *rc_name(int rc);
/* HTTP status <rc> maps to; 500 for out-of-range. */
int rc_http_status(int rc);
/* Stable slug for problem+json `type` ("not-found"). */
const char *rc_slug(int rc);
/* Short human title ("Not found"). */
const char *rc_title(int rc);

#endif
