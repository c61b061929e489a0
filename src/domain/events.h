/*
 * The domain event catalog: the names every service publishes and consumes
 * (the shared language of the system, like a schema registry). The event
 * storming model spelled four of them wrongly (Joind, Withdrawed,
 * PaymenteComplete, Updateed); docs/EVENTS.md maps each of ours to the
 * model's. Payload fields are listed there too.
 */
#ifndef WEBTOON_DOMAIN_EVENTS_H
#define WEBTOON_DOMAIN_EVENTS_H

#include "core/base/id.h"

/* pointer */
#define EV_JOINED "Joined"
#define EV_WITHDRAWN "Withdrawn"
#define EV_INCREASED "Increased"
#define EV_INCREASE_FAILED "IncreaseFailed"
#define EV_DECREASED_COMPLETE "DecreasedComplete"
#define EV_DECREASE_FAILED "DecreaseFailed"
#define EV_CHECK_CORRECTED "CheckCorrected"
#define EV_CHECK_REJECTED "CheckRejected"
/* payment */
#define EV_PAYMENT_COMPLETE "PaymentComplete"
#define EV_PAYMENT_FAILED "PaymentFailed"
#define EV_REFUND_REQUESTED "RefundRequested"
#define EV_REFUND_COMPLETE "RefundComplete"
#define EV_REFUND_FAILED "RefundFailed"
/* purchase */
#define EV_BUY_COMPLETE "BuyComplete"
#define EV_BUY_FAILED "BuyFailed"
#define EV_CANCEL_REQUESTED "CancelRequested"
#define EV_CANCEL_COMPLETE "CancelComplete"
#define EV_CANCEL_FAILED "CancelFailed"
/* webtoon */
#define EV_UPLOADED "Uploaded"
#define EV_UPDATED "Updated"
#define EV_SERIES_CREATED "SeriesCreated"
#define EV_SERIES_UPDATED "SeriesUpdated"
#define EV_PAGES_CHANGED "PagesChanged"
#define EV_ACCESS_GRANTED "AccessGranted"
#define EV_OPEN_APPROVED "OpenApproved"
#define EV_OPEN_REJECTED "OpenRejected"
#define EV_PURCHASE_CANCEL_COMPLETE "PurchaseCancelComplete"
#define EV_PURCHASE_CANCEL_FAILED "PurchaseCancelFailed"

/* Longest client-chosen id (userId, webtoonId): 1..64 of [A-Za-z0-9._:-]. */
#define DOMAIN_ID_MAX ID_NAME_MAX

#endif
