/*
 * The pointer service: accounts and point balances. The only writer of a
 * balance: it joins users, withdraws them, adds points after a payment and
 * takes points for a purchase or a refund, atomically and never below 0.
 */
#ifndef WEBTOON_SVC_POINTER_H
#define WEBTOON_SVC_POINTER_H

#include "core/service/service.h"

extern const struct service_def pointer_service;

#endif
