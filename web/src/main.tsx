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
import { Notices, unread } from './pages/notices.js';
import { connected, isAdmin, logout, ssoExchange, start, status, token, username } from './session.js';

const Dashboards = lazy(() => import('./dashboards/dashboards.js').then((m) => m.Dashboards));
const Pages = lazy(() => import('./pages/pages.js').then((m) => m.ManagementPage));

const THEME_KEY = 'hub-theme';
const theme = signal(localStorage.getItem(THEME_KEY) ?? (matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark'));
const applyTheme = (): void => {
  document.documentElement.dataset['theme'] = theme.value;
};
applyTheme();

/** The header's sections: path, label, and who may open it (webhooks and users are admin-only, PROTOCOL.md §2). */
export const NAV: [string, string, 'all' | 'admin'][] = [
  ['', 'Overview', 'all'],
  ['dashboards', 'Dashboards', 'all'],
  ['events', 'Events', 'all'],
  ['experiments', 'Experiments', 'all'],
  ['datapoints', 'Datapoints', 'all'],
  ['rules', 'Rules', 'all'],
  ['webhooks', 'Webhooks', 'admin'],
  ['firmware', 'Firmware', 'all'],
  ['plugins', 'Plugins', 'all'],
  ['tokens', 'Tokens', 'all'],
  ['users', 'Users', 'admin'],
  ['log', 'Log', 'all'],
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
            {NAV.filter(([, , who]) => who === 'all' || isAdmin()).map(([path, label]) => (
              <a key={path} href={href(path)} class={section === path ? 'active' : ''} aria-current={section === path ? 'page' : undefined}>
                {label}
                {path === 'log' && unread.value !== null && unread.value > 0 && (
                  <span class="badge count" id="unread-count" aria-label={`${unread.value} unread`}>{unread.value}</span>
                )}
              </a>
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
      {connected.value && <Notices />}
    </>
  );
}

const root = document.getElementById('app');
if (root !== null) render(<App />, root);
void ssoExchange().then(() => start());
