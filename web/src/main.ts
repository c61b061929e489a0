import { createApp } from 'vue';
import App from './App.vue';
import { CALLBACK_PATH, startAuth } from './auth';
import { createAppRouter } from './router';
import './styles.css';

function mountApp(): void {
  createApp(App).use(createAppRouter()).mount('#app');
}

// Back from the issuer (its answer in the address): finish that first, so
// the router starts on the screen the user came from. Otherwise the catalog
// shows at once while sign-in is restored in the background.
const loc = window.location;
if (loc.pathname === CALLBACK_PATH || new URLSearchParams(loc.search).has('state')) {
  void startAuth().then((where) => {
    if (where === 'app') mountApp();
  });
} else {
  mountApp();
  void startAuth();
}
