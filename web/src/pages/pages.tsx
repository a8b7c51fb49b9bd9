/**
 * The operator pages, one chunk loaded on first use: each route's page, and what a role may
 * open (the header lists only those; a page opened anyway by its address answers in words).
 */
import type { ComponentType } from 'preact';
import { DatapointsPage } from './datapoints.js';
import { EventsPage } from './events.js';
import { ExperimentsPage } from './experiments.js';
import { FirmwarePage } from './firmware.js';
import { LogPage } from './log.js';
import { PluginsPage } from './plugins.js';
import { RulesPage } from './rules.js';
import { TokensPage } from './tokens.js';
import { UsersPage } from './users.js';
import { WebhooksPage } from './webhooks.js';

const PAGES: Record<string, ComponentType> = {
  events: EventsPage,
  experiments: ExperimentsPage,
  datapoints: DatapointsPage,
  rules: RulesPage,
  webhooks: WebhooksPage,
  firmware: FirmwarePage,
  plugins: PluginsPage,
  tokens: TokensPage,
  users: UsersPage,
  log: LogPage,
};

export function ManagementPage(props: { kind: string }) {
  const Page = PAGES[props.kind];
  if (Page === undefined) return <p class="error" role="alert">No page “{props.kind}”.</p>;
  return <Page key={props.kind} />;
}
