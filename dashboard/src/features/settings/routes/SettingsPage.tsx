import { Stack, Tabs, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { useSearchParams } from "react-router";
import { can } from "@/lib/auth/permissions";
import { useSession } from "@/lib/auth/useSession";
import {
  ApiKeysPanel,
  AuditPanel,
  DeadLettersPanel,
  RolesPanel,
  UsagePanel,
  UsersPanel,
  WebhooksPanel,
} from "../components/AdminPanels";
import { TenantPanel } from "../components/TenantPanel";

export function Component() {
  const { t } = useTranslation();
  const { role } = useSession();
  const [search, setSearch] = useSearchParams();
  // Only the tabs the caller's role may read (the API would answer 403 for the others).
  const tabs = [
    { value: "tenant", permission: "tenant_settings:read", panel: <TenantPanel editable={can(role, "tenant_settings:update")} /> },
    { value: "users", permission: "users:read", panel: <UsersPanel canInvite={can(role, "users:create")} /> },
    { value: "roles", permission: "roles:read", panel: <RolesPanel /> },
    { value: "apiKeys", permission: "api_keys:read", panel: <ApiKeysPanel /> },
    { value: "webhooks", permission: "webhooks:read", panel: <WebhooksPanel /> },
    { value: "usage", permission: "billing:read", panel: <UsagePanel /> },
    { value: "audit", permission: "audit_logs:read", panel: <AuditPanel /> },
    { value: "deadLetters", permission: "dead_letters:read", panel: <DeadLettersPanel /> },
  ].filter((tab) => can(role, tab.permission));
  const current = search.get("tab") ?? "tenant";
  return (
    <Stack>
      <Title order={1}>{t("settings.title")}</Title>
      <Tabs value={current} onChange={(value) => value && setSearch({ tab: value }, { replace: true })} keepMounted={false}>
        <Tabs.List>
          {tabs.map((tab) => (
            <Tabs.Tab key={tab.value} value={tab.value}>
              {t(`settings.tabs.${tab.value}`)}
            </Tabs.Tab>
          ))}
        </Tabs.List>
        {tabs.map((tab) => (
          <Tabs.Panel key={tab.value} value={tab.value} pt="md">
            {tab.panel}
          </Tabs.Panel>
        ))}
      </Tabs>
    </Stack>
  );
}
