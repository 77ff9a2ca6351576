/**
 * What a built-in role may do, as the API's permission matrix says (README "Roles"), so the
 * UI does not offer actions the API would refuse. The API stays the judge: a custom role is
 * shown everything its token's role name does not rule out, and a refusal is shown as an
 * error.
 */
const ALL = ["read", "create", "update", "delete"];
type Matrix = Record<string, string[]>;

const CRM_FULL: Matrix = {
  leads: ALL,
  contacts: ALL,
  deals: ALL,
  pipelines: ALL,
  automations: ALL,
  reports: ["read"],
  tenant_settings: ["read"],
};

const ROLES: Record<string, Matrix> = {
  owner: {
    ...CRM_FULL,
    users: ["read", "create", "update"],
    roles: ["read", "create", "update"],
    api_keys: ["read", "create", "delete"],
    tenant_settings: ["read", "update"],
    billing: ["read", "update"],
    audit_logs: ["read"],
    dead_letters: ALL,
    webhooks: ALL,
  },
  admin: {
    ...CRM_FULL,
    users: ["read", "create", "update"],
    roles: ["read", "create", "update"],
    api_keys: ["read", "create", "delete"],
    tenant_settings: ["read", "update"],
    billing: ["read"],
    audit_logs: ["read"],
    dead_letters: ALL,
    webhooks: ALL,
  },
  manager: { ...CRM_FULL, users: ["read"], roles: ["read"], billing: ["read"] },
  seller: {
    leads: ["read", "create", "update"],
    contacts: ["read", "create", "update"],
    deals: ["read", "create", "update"],
    pipelines: ["read"],
    automations: ["read"],
    reports: ["read"],
    tenant_settings: ["read"],
  },
  viewer: {
    leads: ["read"],
    contacts: ["read"],
    deals: ["read"],
    pipelines: ["read"],
    automations: ["read"],
    reports: ["read"],
    tenant_settings: ["read"],
  },
};

export function can(role: string, permission: string): boolean {
  const matrix = ROLES[role];
  if (!matrix) return true;
  const [resource = "", action = ""] = permission.split(":");
  return matrix[resource]?.includes(action) ?? false;
}
