// Screens and their addresses. Hash history: the gateway routes /webtoons,
// /payments, ... to the API, so screen paths live after the '#', and a reload
// or a shared link always reaches index.html. (The one real path besides the
// files is /callback, where the issuer sends the browser back: auth.ts.)
import { createRouter, createWebHashHistory, type RouterHistory, type RouteRecordRaw } from 'vue-router';
import AdminView from './views/AdminView.vue';
import CatalogView from './views/CatalogView.vue';
import EpisodeView from './views/EpisodeView.vue';
import HistoryView from './views/HistoryView.vue';
import LibraryView from './views/LibraryView.vue';
import NotFoundView from './views/NotFoundView.vue';
import PointsView from './views/PointsView.vue';
import ReaderView from './views/ReaderView.vue';
import SeriesView from './views/SeriesView.vue';
import { session, whenSettled } from './session';

export const routes: RouteRecordRaw[] = [
  { path: '/', name: 'catalog', component: CatalogView, meta: { title: 'Catalog' } },
  { path: '/series/:id', name: 'series', component: SeriesView, props: true, meta: { title: 'Series' } },
  { path: '/read/:webtoonId', name: 'reader', component: ReaderView, props: true, meta: { title: 'Reader' } },
  { path: '/library', name: 'library', component: LibraryView, meta: { title: 'My library' } },
  {
    path: '/episodes/:id',
    name: 'episode',
    component: EpisodeView,
    props: true,
    meta: { title: 'Episode' },
  },
  { path: '/points', name: 'points', component: PointsView, meta: { title: 'My points' } },
  { path: '/history', name: 'history', component: HistoryView, meta: { title: 'My history' } },
  { path: '/admin', name: 'admin', component: AdminView, meta: { title: 'Admin', admin: true } },
  { path: '/:rest(.*)*', name: 'not-found', component: NotFoundView, meta: { title: 'Not found' } },
];

export function createAppRouter(history: RouterHistory = createWebHashHistory()) {
  const router = createRouter({
    history,
    routes,
    // Searching or filtering (a new query, same page of results) keeps the scroll position.
    scrollBehavior: (to, from, saved) =>
      saved ?? (to.path === from.path && to.query.page === from.query.page ? false : { top: 0 }),
  });
  // The admin area is for admins: readers and visitors land on the catalog.
  // (What the UI hides is a courtesy; the API refuses them itself.)
  router.beforeEach(async (to) => {
    if (!to.meta.admin) return true;
    await whenSettled();
    return session.isAdmin ? true : { name: 'catalog', replace: true };
  });
  router.afterEach((to) => {
    const title = typeof to.meta.title === 'string' ? to.meta.title : '';
    if (typeof document !== 'undefined') document.title = title ? `${title} · Webtoon store` : 'Webtoon store';
  });
  return router;
}
