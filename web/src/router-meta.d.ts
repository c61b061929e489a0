import 'vue-router';

declare module 'vue-router' {
  interface RouteMeta {
    /** Shown in the document title. */
    title?: string;
  }
}
