/**
 * The web app: logs in, keeps one SDK connection, and routes between the overview, the
 * dashboards and the operator pages. Served by the hub from dist/webapp under a strict CSP.
 */
import './styles.css';
import { render } from 'preact';
import { signal } from '@preact/signals';
import { lazy } from './lazy.js';
import { Login } from './login.js';
import { Overview } from './overview.js';
import { href, route } from './router.js';
import { connected, logout, ssoExchange, start, status, token, username } from './session.js';

const Dashboards = lazy(() => import('./dashboards/dashboards.js').then((m) => m.Dashboards));
const Pages = lazy(() => import('./pages/pages.js').then((m) => m.ManagementPage));

const THEME_KEY = 'hub-theme';
const theme = signal(localStorage.getItem(THEME_KEY) ?? (matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark'));
const applyTheme = (): void => {
  document.documentElement.dataset['theme'] = theme.value;
};
applyTheme();

export const NAV: [string, string][] = [
  ['', 'Overview'],
  ['dashboards', 'Dashboards'],
  ['events', 'Events'],
  ['experiments', 'Experiments'],
  ['rules', 'Rules'],
  ['webhooks', 'Webhooks'],
  ['firmware', 'Firmware'],
  ['plugins', 'Plugins'],
  ['tokens', 'Tokens'],
  ['users', 'Users'],
  ['log', 'Log'],
];

function View() {
  const [section = '', ...rest] = route.value;
  if (section === '') return <Overview />;
  if (section === 'dashboards') return <Dashboards id={rest[0]} />;
  return <Pages kind={section} />;
}

function App() {
  const loggedIn = token.value !== null;
  const [section = ''] = route.value;
  return (
    <>
      <header>
        <h1>Telemetry hub</h1>
        {connected.value && (
          <nav aria-label="sections">
            {NAV.map(([path, label]) => (
              <a key={path} href={href(path)} class={section === path ? 'active' : ''}>{label}</a>
            ))}
          </nav>
        )}
        <span id="status">{status.value}</span>
        {connected.value && (
          <span class="user">
            {username.value}
            <button
              type="button"
              class="quiet"
              title="switch theme"
              onClick={() => {
                theme.value = theme.value === 'dark' ? 'light' : 'dark';
                localStorage.setItem(THEME_KEY, theme.value);
                applyTheme();
              }}
            >
              {theme.value === 'dark' ? 'Light' : 'Dark'}
            </button>
            <button type="button" class="quiet" onClick={() => void logout()}>Log out</button>
          </span>
        )}
      </header>
      <main>{!loggedIn ? <Login /> : connected.value ? <View /> : <p class="muted">Connecting…</p>}</main>
    </>
  );
}

const root = document.getElementById('app');
if (root !== null) render(<App />, root);
void ssoExchange().then(() => start());
