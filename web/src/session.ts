// Who is signed in, as the screens need to know it. auth.ts fills this from
// the OpenID Connect tokens; nothing here is a secret, and nothing is stored
// (a reload starts from 'loading' and auth.ts restores what it can).
//
// `name` is known as soon as the tokens are; `userId`, the id every API call
// uses, only once the account is known to exist, so a screen never asks for
// the balance of an account that is still being created.
import { reactive, readonly, watch } from 'vue';

export type SessionStatus =
  /** Finding out: starting up, back from the issuer, restoring after a reload. */
  | 'loading'
  | 'signed-in'
  | 'signed-out'
  /** Was signed in; the sign-in ended (expired, refused by the API). */
  | 'expired';

interface SessionState {
  status: SessionStatus;
  /** preferred_username of the signed-in user (the header shows it). */
  name: string | null;
  /** The userId of API calls: the signed-in user's, once their account exists. */
  userId: string | null;
  /** realm_access.roles of the access token, for what the UI shows only. */
  roles: string[];
  isAdmin: boolean;
  /** A sign-in problem, in plain words. */
  error: string | null;
}

const state = reactive<SessionState>({
  status: 'signed-out',
  name: null,
  userId: null,
  roles: [],
  isAdmin: false,
  error: null,
});

export const session = readonly(state);

export function setLoading(): void {
  state.status = 'loading';
}

/** Tokens are there for <name>; the account may still be on its way. */
export function setSignedIn(name: string, roles: string[], accountReady: boolean): void {
  state.name = name;
  state.roles = [...roles];
  state.isAdmin = roles.includes('admin');
  state.error = null;
  if (accountReady) {
    state.userId = name;
    state.status = 'signed-in';
  } else {
    state.userId = null;
    state.status = 'loading';
  }
}

/** The account of the signed-in user exists (or was just created). */
export function setAccountReady(name: string): void {
  if (state.name !== name) return; // signed out or someone else meanwhile
  state.userId = name;
  state.status = 'signed-in';
}

export function setSignedOut(expired = false): void {
  const wasSignedIn = state.name !== null;
  state.name = null;
  state.userId = null;
  state.roles = [];
  state.isAdmin = false;
  state.status = expired && wasSignedIn ? 'expired' : 'signed-out';
}

export function setSessionError(message: string | null): void {
  state.error = message;
}

/** Back to a signed-out visitor with no message (tests). */
export function resetSession(): void {
  setSignedOut();
  state.error = null;
}

/** Resolves once the session is no longer 'loading'. */
export function whenSettled(): Promise<void> {
  if (state.status !== 'loading') return Promise.resolve();
  return new Promise((resolve) => {
    const stop = watch(
      () => state.status,
      (status) => {
        if (status === 'loading') return;
        stop();
        resolve();
      },
    );
  });
}
