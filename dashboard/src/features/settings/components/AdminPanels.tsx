import { Alert, Badge, Button, Code, Group, Select, Stack, Table, Text, TextInput } from "@mantine/core";
import { useForm } from "@mantine/form";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { ProblemAlert } from "@/components/ProblemAlert";
import { useUsers } from "@/features/records/api/records";
import { useTenantFormat } from "@/features/tenant/api/tenant";
import { showFieldErrors } from "@/lib/api/useProblemForm";
import { formatDateTime } from "@/lib/format";
import {
  useApiKeys,
  useAuditLog,
  useCreateApiKey,
  useDeadLetters,
  useDeliveries,
  useInvite,
  useRedrive,
  useRevokeApiKey,
  useRoles,
  useUsage,
  useWebhooks,
} from "../api/settings";

function SimpleTable({ header, rows, empty }: { header: string[]; rows: React.ReactNode[][]; empty?: string }) {
  const { t } = useTranslation();
  return (
    <>
      <Table.ScrollContainer minWidth={600}>
        <Table striped withTableBorder>
          <Table.Thead>
            <Table.Tr>
              {header.map((h) => (
                <Table.Th key={h}>{h}</Table.Th>
              ))}
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((row, i) => (
              <Table.Tr key={i}>
                {row.map((cell, j) => (
                  <Table.Td key={j}>{cell}</Table.Td>
                ))}
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      {rows.length === 0 && <Text c="dimmed">{empty ?? t("records.empty")}</Text>}
    </>
  );
}

export function UsersPanel({ canInvite }: { canInvite: boolean }) {
  const { t } = useTranslation();
  const users = useUsers();
  const invite = useInvite();
  const form = useForm({ initialValues: { email: "", name: "", role: "seller" } });
  return (
    <Stack>
      {canInvite && (
        <form
          onSubmit={form.onSubmit((values) =>
            invite.mutate(values, { onSuccess: () => form.reset(), onError: (e) => showFieldErrors(form, e) }),
          )}
          noValidate
        >
          <Group align="end">
            <TextInput label={t("fields.email")} {...form.getInputProps("email")} />
            <TextInput label={t("fields.name")} {...form.getInputProps("name")} />
            <Select label={t("settings.role")} data={["admin", "manager", "seller", "viewer"]} allowDeselect={false} {...form.getInputProps("role")} />
            <Button type="submit" loading={invite.isPending}>
              {t("settings.invite")}
            </Button>
          </Group>
        </form>
      )}
      {invite.error && Object.keys(form.errors).length === 0 && <ProblemAlert error={invite.error} />}
      <SimpleTable
        header={[t("fields.name"), t("fields.email"), t("settings.role"), t("fields.status")]}
        rows={(users.data?.items ?? []).map((u) => [u.name, u.email, t(`roles.${u.role}`, { defaultValue: u.role }), u.status])}
      />
    </Stack>
  );
}

export function RolesPanel() {
  const { t } = useTranslation();
  const roles = useRoles();
  return (
    <SimpleTable
      header={[t("settings.role"), t("settings.permissions")]}
      rows={(roles.data?.items ?? []).map((r) => [
        <Text key="n" fw={500}>{r.name}</Text>,
        <Text key="p" size="xs">{r.permissions.join(", ")}</Text>,
      ])}
    />
  );
}

export function ApiKeysPanel() {
  const { t } = useTranslation();
  const format = useTenantFormat();
  const keys = useApiKeys();
  const create = useCreateApiKey();
  const revoke = useRevokeApiKey();
  const [name, setName] = useState("");
  return (
    <Stack>
      <Group align="end">
        <TextInput label={t("fields.name")} value={name} onChange={(e) => setName(e.currentTarget.value)} />
        <Button loading={create.isPending} onClick={() => create.mutate({ name, scopes: ["leads:read"] })}>
          {t("settings.createKey")}
        </Button>
      </Group>
      {create.data && (
        <Alert color="yellow" title={t("settings.secretOnce")}>
          <Code>{create.data.secret}</Code>
        </Alert>
      )}
      {create.error && <ProblemAlert error={create.error} />}
      <SimpleTable
        header={[t("fields.name"), t("settings.scopes"), t("fields.createdAt"), ""]}
        rows={(keys.data?.items ?? []).map((k) => [
          `${k.name} (…${k.hint})`,
          k.scopes.join(", "),
          formatDateTime(k.created_at, format),
          k.revoked_at ? (
            <Badge key="r" color="gray">{t("settings.revoked")}</Badge>
          ) : (
            <Button key="b" size="compact-xs" color="red" variant="subtle" onClick={() => revoke.mutate(k.id)}>
              {t("settings.revoke")}
            </Button>
          ),
        ])}
      />
    </Stack>
  );
}

export function WebhooksPanel() {
  const { t } = useTranslation();
  const format = useTenantFormat();
  const webhooks = useWebhooks();
  const [selected, setSelected] = useState<string | null>(null);
  const deliveries = useDeliveries(selected);
  return (
    <Stack>
      <SimpleTable
        header={["URL", t("settings.events"), t("fields.status"), ""]}
        rows={(webhooks.data?.items ?? []).map((w) => [
          w.url,
          w.event_types.join(", "),
          w.active ? t("settings.active") : t("settings.inactive"),
          <Button key="d" size="compact-xs" variant="subtle" onClick={() => setSelected(w.id)}>
            {t("settings.deliveries")}
          </Button>,
        ])}
      />
      {selected && (
        <SimpleTable
          header={[t("settings.event"), t("fields.status"), t("settings.attempts"), "HTTP", t("settings.lastAttempt")]}
          rows={(deliveries.data?.items ?? []).map((d) => [
            d.event_type,
            d.status,
            d.attempts,
            d.last_status_code ?? "—",
            formatDateTime(d.last_attempt_at, format),
          ])}
        />
      )}
    </Stack>
  );
}

export function UsagePanel() {
  const { t } = useTranslation();
  const usage = useUsage();
  return (
    <Stack>
      <Text>
        {t("settings.plan")}: <Badge>{usage.data?.plan ?? "…"}</Badge>
      </Text>
      <SimpleTable
        header={[t("settings.metric"), t("settings.used"), t("settings.limit")]}
        rows={Object.entries(usage.data?.usage ?? {}).map(([metric, value]) => [
          t(`settings.metrics.${metric}`, { defaultValue: metric }),
          value.used,
          value.limit ?? "∞",
        ])}
      />
    </Stack>
  );
}

export function AuditPanel() {
  const { t } = useTranslation();
  const format = useTenantFormat();
  const [action, setAction] = useState("");
  const log = useAuditLog(action.trim() || undefined);
  return (
    <Stack>
      <TextInput label={t("settings.filterAction")} placeholder="lead.created" value={action} onChange={(e) => setAction(e.currentTarget.value)} maw={300} />
      <SimpleTable
        header={[t("settings.when"), t("settings.action"), t("settings.entity"), t("settings.actor"), "IP"]}
        rows={(log.data?.items ?? []).map((e) => [
          formatDateTime(e.occurred_at, format),
          e.action,
          `${e.entity.type} ${e.entity.id?.slice(0, 8) ?? ""}`,
          e.actor.type,
          e.ip ?? "—",
        ])}
      />
    </Stack>
  );
}

export function DeadLettersPanel() {
  const { t } = useTranslation();
  const format = useTenantFormat();
  const letters = useDeadLetters();
  const redrive = useRedrive();
  const items = letters.data?.items ?? [];
  return (
    <Stack>
      <Group>
        <Button disabled={items.length === 0} loading={redrive.isPending} onClick={() => redrive.mutate({ all: true })}>
          {t("settings.redriveAll")}
        </Button>
      </Group>
      {redrive.error && <ProblemAlert error={redrive.error} />}
      <SimpleTable
        header={[t("settings.consumer"), t("settings.event"), t("settings.attempts"), t("settings.when"), ""]}
        rows={items.map((d) => [
          d.consumer,
          d.event_type,
          d.attempts,
          formatDateTime(d.dead_lettered_at, format),
          <Button key="r" size="compact-xs" variant="subtle" onClick={() => redrive.mutate({ ids: [d.id] })}>
            {t("settings.redrive")}
          </Button>,
        ])}
        empty={t("settings.noDeadLetters")}
      />
    </Stack>
  );
}
