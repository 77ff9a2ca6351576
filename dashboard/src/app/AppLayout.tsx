import { AppShell, Burger, Center, Group, Loader, NavLink, ScrollArea, Text, Title } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import {
  IconAddressBook,
  IconAutomation,
  IconChartBar,
  IconHome,
  IconLayoutKanban,
  IconSettings,
  IconUsers,
} from "@tabler/icons-react";
import { Suspense } from "react";
import { useTranslation } from "react-i18next";
import { Navigate, NavLink as RouterLink, Outlet, useLocation } from "react-router";
import { useSessionState } from "@/lib/auth/useSession";
import { can } from "@/lib/auth/permissions";
import { useRealtime } from "@/lib/realtime/useRealtime";
import { HeaderControls } from "./HeaderControls";

const NAV = [
  { to: "/", key: "nav.overview", icon: IconHome, end: true, permission: null },
  { to: "/leads", key: "nav.leads", icon: IconUsers, permission: "leads:read" },
  { to: "/contacts", key: "nav.contacts", icon: IconAddressBook, permission: "contacts:read" },
  { to: "/pipeline", key: "nav.pipeline", icon: IconLayoutKanban, permission: "deals:read" },
  { to: "/automations", key: "nav.automations", icon: IconAutomation, permission: "automations:read" },
  { to: "/reports", key: "nav.reports", icon: IconChartBar, permission: "reports:read" },
  { to: "/settings", key: "nav.settings", icon: IconSettings, permission: "tenant_settings:read" },
] as const;

function PageLoader() {
  return (
    <Center h={200}>
      <Loader aria-label="loading" />
    </Center>
  );
}

export function AppLayout() {
  const state = useSessionState();
  const location = useLocation();
  if (state.status === "restoring") return <PageLoader />;
  if (state.status === "anonymous") {
    const next = location.pathname + location.search;
    const params = new URLSearchParams({ next });
    if (state.expired) params.set("expired", "1");
    return <Navigate to={`/login?${params.toString()}`} replace />;
  }
  return <SignedInShell role={state.session.role} />;
}

function SignedInShell({ role }: { role: string }) {
  const { t } = useTranslation();
  const [opened, { toggle, close }] = useDisclosure();
  useRealtime();
  return (
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 220, breakpoint: "sm", collapsed: { mobile: !opened } }}
      padding="md"
    >
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label={t("nav.menu")} />
            <Title order={2} size="h4">
              {t("app.name")}
            </Title>
          </Group>
          <HeaderControls signedIn />
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label={t("nav.label")}>
        <ScrollArea>
          {NAV.filter((item) => item.permission === null || can(role, item.permission)).map((item) => (
            <NavLink
              key={item.to}
              component={RouterLink}
              to={item.to}
              end={"end" in item ? item.end : false}
              label={t(item.key)}
              leftSection={<item.icon size={18} stroke={1.6} aria-hidden />}
              onClick={close}
            />
          ))}
        </ScrollArea>
        <Text size="xs" c="dimmed" mt="auto" p="xs">
          {t(`roles.${role}`, { defaultValue: role })}
        </Text>
      </AppShell.Navbar>
      <AppShell.Main>
        <Suspense fallback={<PageLoader />}>
          <Outlet />
        </Suspense>
      </AppShell.Main>
    </AppShell>
  );
}
