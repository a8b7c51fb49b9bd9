/**
 * The role table of PROTOCOL.md §2 as data: which role may run which CRUD op on which resource.
 * Ownership (users see themselves, dashboards their own and global ones, devices their own
 * instance) is checked on top of this by each resource's spec.
 */
import type { Principal } from '../auth/principal.js';
import type { ResourceName } from '../db/entities.js';

export type CrudKind = 'list' | 'get' | 'create' | 'update' | 'delete';
export type Rule = (p: Principal) => boolean;

export const ANYONE: Rule = () => true;
/** viewer, operator or admin: any user, not a device. */
export const PERSON: Rule = (p) => p.role !== 'device';
export const OPERATOR: Rule = (p) => p.role === 'operator' || p.role === 'admin';
export const ADMIN: Rule = (p) => p.role === 'admin';
export const DEVICE: Rule = (p) => p.role === 'device';
export const either =
  (...rules: Rule[]): Rule =>
  (p) =>
    rules.some((rule) => rule(p));

const readPersonWrite = (write: Rule): Partial<Record<CrudKind, Rule>> => ({
  list: PERSON,
  get: PERSON,
  create: write,
  update: write,
  delete: write,
});

/** Which ops each resource has, and who may call each. A missing kind is no op at all. */
export const CRUD_ACCESS: Record<ResourceName, Partial<Record<CrudKind, Rule>>> = {
  // A non-admin lists, gets and updates only itself (and cannot change roles): see users spec.
  users: { list: PERSON, get: PERSON, create: ADMIN, update: PERSON, delete: ADMIN },
  events: readPersonWrite(OPERATOR),
  experiments: readPersonWrite(OPERATOR),
  datapoints: { list: PERSON, get: PERSON, delete: OPERATOR },
  log_entries: readPersonWrite(OPERATOR),
  rules: readPersonWrite(OPERATOR),
  webhooks: { list: ADMIN, get: ADMIN, create: ADMIN, update: ADMIN, delete: ADMIN },
  webhook_deliveries: { list: ADMIN, get: ADMIN },
  firmware_updates: readPersonWrite(ADMIN),
  // Operators write their own dashboards (and the widgets on them): see the specs.
  dashboards: readPersonWrite(OPERATOR),
  dashboard_widgets: readPersonWrite(OPERATOR),
  plugin_packages: readPersonWrite(ADMIN),
  // A device may get its own instance and list its own channel mappings.
  plugin_instances: { ...readPersonWrite(ADMIN), get: either(PERSON, DEVICE) },
  channel_mappings: { ...readPersonWrite(ADMIN), list: either(PERSON, DEVICE) },
  // A non-admin lists and gets only its own tokens.
  api_tokens: readPersonWrite(ADMIN),
};
