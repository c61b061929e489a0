// Screens and their addresses. Hash history: the gateway routes /webtoons,
// /payments, ... to the API, so screen paths live after the '#', and a reload
// or a shared link always reaches index.html.
import { createRouter, createWebHashHistory, type RouterHistory, type RouteRecordRaw } from 'vue-router';
import AccountView from './views/AccountView.vue';
import AdminView from './views/AdminView.vue';
import CatalogView from './views/CatalogView.vue';
import EpisodeView from './views/EpisodeView.vue';
import HistoryView from './views/HistoryView.vue';
import NotFoundView from './views/NotFoundView.vue';
import PointsView from './views/PointsView.vue';

export const routes: RouteRecordRaw[] = [
  { path: '/', name: 'catalog', component: CatalogView, meta: { title: 'Catalog' } },
  {
    path: '/episodes/:id',
    name: 'episode',
    component: EpisodeView,
    props: true,
    meta: { title: 'Episode' },
  },
  { path: '/points', name: 'points', component: PointsView, meta: { title: 'My points' } },
  { path: '/history', name: 'history', component: HistoryView, meta: { title: 'My history' } },
  { path: '/admin', name: 'admin', component: AdminView, meta: { title: 'Admin' } },
  {
    path: '/account',
    name: 'account',
    component: AccountView,
    meta: { title: 'Sign up or pick a user' },
  },
  { path: '/:rest(.*)*', name: 'not-found', component: NotFoundView, meta: { title: 'Not found' } },
];

export function createAppRouter(history: RouterHistory = createWebHashHistory()) {
  const router = createRouter({
    history,
    routes,
    scrollBehavior: (_to, _from, saved) => saved ?? { top: 0 },
  });
  router.afterEach((to) => {
    const title = typeof to.meta.title === 'string' ? to.meta.title : '';
    if (typeof document !== 'undefined') document.title = title ? `${title} · Webtoon store` : 'Webtoon store';
  });
  return router;
}
