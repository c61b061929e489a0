import 'vue-router';

declare module 'vue-router' {
  interface RouteMeta {
    /** Shown in the document title. */
    title?: string;
    /** Only for users with the admin role; others are sent to the catalog. */
    admin?: boolean;
  }
}
