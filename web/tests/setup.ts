// Every test starts signed out, with empty storage, an API client that waits
// for nothing and signs nothing in, and no fetch mock left from the test before.
import { enableAutoUnmount } from '@vue/test-utils';
import { afterEach, beforeEach, vi } from 'vitest';
import { apiConfig } from '../src/api';
import { resetSession } from '../src/session';

const defaults = { ...apiConfig };

// jsdom has no layout; the router's scroll restoration only needs a no-op.
window.scrollTo = (() => {}) as typeof window.scrollTo;
window.scrollBy = (() => {}) as typeof window.scrollBy;
Element.prototype.scrollIntoView = function scrollIntoView() {};

// Unmount every screen after its test, so nothing keeps polling into the next.
enableAutoUnmount(afterEach);

beforeEach(() => {
  localStorage.clear();
  sessionStorage.clear();
  resetSession();
  apiConfig.sleep = vi.fn(() => Promise.resolve());
  apiConfig.historyPollMs = 5;
  apiConfig.searchDelayMs = 0;
  apiConfig.progressDelayMs = 0;
});

afterEach(() => {
  Object.assign(apiConfig, defaults);
  vi.unstubAllGlobals();
  document.body.innerHTML = '';
});
