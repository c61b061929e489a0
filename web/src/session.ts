// Who is using the store, until real sign-in (OIDC) lands: the current user
// id and the ids used before on this browser, remembered in localStorage.
import { reactive, readonly } from 'vue';

const CURRENT_KEY = 'webtoon.currentUser';
const KNOWN_KEY = 'webtoon.knownUsers';
const MAX_KNOWN = 20;

function load(key: string): string | null {
  try {
    return globalThis.localStorage?.getItem(key) ?? null;
  } catch {
    return null; // storage disabled (private mode, policies)
  }
}

function store(key: string, value: string | null): void {
  try {
    if (value === null) globalThis.localStorage?.removeItem(key);
    else globalThis.localStorage?.setItem(key, value);
  } catch {
    /* remembered for this page only */
  }
}

function loadKnown(): string[] {
  try {
    const list = JSON.parse(load(KNOWN_KEY) ?? '[]');
    return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

const state = reactive({
  userId: load(CURRENT_KEY),
  known: loadKnown(),
});

/** Makes `userId` the current user and remembers it. */
export function setCurrentUser(userId: string): void {
  state.userId = userId;
  state.known = [userId, ...state.known.filter((u) => u !== userId)].slice(0, MAX_KNOWN);
  store(CURRENT_KEY, userId);
  store(KNOWN_KEY, JSON.stringify(state.known));
}

export function signOut(): void {
  state.userId = null;
  store(CURRENT_KEY, null);
}

export function forgetUser(userId: string): void {
  state.known = state.known.filter((u) => u !== userId);
  store(KNOWN_KEY, JSON.stringify(state.known));
  if (state.userId === userId) signOut();
}

/** Re-reads localStorage (tests, or another tab changed it). */
export function reloadSession(): void {
  state.userId = load(CURRENT_KEY);
  state.known = loadKnown();
}

export const session = readonly(state);
