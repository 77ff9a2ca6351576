import {
  Anchor,
  Badge,
  Button,
  Card,
  Center,
  Grid,
  Group,
  Loader,
  Select,
  Stack,
  Table,
  TagsInput,
  Text,
  Textarea,
  Timeline,
  Title,
} from "@mantine/core";
import { IconArrowLeft, IconEdit } from "@tabler/icons-react";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useParams } from "react-router";
import { ProblemAlert } from "@/components/ProblemAlert";
import { useTenantFormat } from "@/features/tenant/api/tenant";
import { can } from "@/lib/auth/permissions";
import { useSession } from "@/lib/auth/useSession";
import { formatDateTime } from "@/lib/format";
import { useAddNote, useCustomFields, useRecord, useTags, useTimeline, useUpdateRecord, useUsers } from "../api/records";
import type { CrmRecord, RecordKind, TimelineItem, User } from "../api/types";
import { RecordFormModal } from "./RecordForm";

function show(value: unknown): string {
  if (value === null || value === undefined || value === "") return "—";
  if (Array.isArray(value)) return value.join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function TimelineEntry({ item, users }: { item: TimelineItem; users: Map<string, User> }) {
  const { t } = useTranslation();
  const format = useTenantFormat();
  const who = (id: string | null | undefined) => (id ? (users.get(id)?.name ?? t("records.someone")) : t("records.someone"));
  let title: string;
  let body: string | null = null;
  if (item.type === "note") {
    title = t("timeline.note", { who: who(item.author_id) });
    body = item.body ?? "";
  } else if (item.type === "automation_run") {
    title = t("timeline.automation", { name: item.automation_name ?? "" });
  } else if (item.field) {
    title = t("timeline.changed", { field: t(`fields.${item.field}`, { defaultValue: item.field }), who: who(item.actor?.id) });
    body = `${show(item.old)} → ${show(item.new)}`;
  } else {
    title = t(`timeline.action.${item.action ?? "updated"}`, { defaultValue: item.action ?? "", who: who(item.actor?.id) });
  }
  return (
    <Timeline.Item title={title}>
      {body && (
        <Text size="sm" style={{ whiteSpace: "pre-wrap" }}>
          {body}
        </Text>
      )}
      <Text size="xs" c="dimmed">
        {formatDateTime(item.at, format)}
      </Text>
    </Timeline.Item>
  );
}

function Fields({ kind, record }: { kind: RecordKind; record: CrmRecord }) {
  const { t } = useTranslation();
  const format = useTenantFormat();
  const definitions = useCustomFields(kind);
  const rows: [string, string][] = [
    [t("fields.email"), show(record.email)],
    [t("fields.phone"), show(record.phone)],
    [t("fields.company"), show(record.company)],
    ...(kind === "leads"
      ? ([
          [t("fields.status"), t(`leads.status.${record.status ?? "new"}`)],
          [t("fields.source"), show(record.source)],
          [t("fields.score"), show(record.score)],
        ] as [string, string][])
      : ([[t("fields.jobTitle"), show(record.job_title)]] as [string, string][])),
    [t("fields.category"), show(record.category)],
    [t("fields.createdAt"), formatDateTime(record.created_at, format)],
    [t("fields.updatedAt"), formatDateTime(record.updated_at, format)],
    ...(definitions.data?.items ?? []).map(
      (definition) => [definition.label, show(record.custom_fields[definition.key])] as [string, string],
    ),
  ];
  return (
    <Table variant="vertical" layout="fixed" withTableBorder>
      <Table.Tbody>
        {rows.map(([label, value]) => (
          <Table.Tr key={label}>
            <Table.Th w={180}>{label}</Table.Th>
            <Table.Td>{value}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

export function RecordDetailPage({ kind }: { kind: RecordKind }) {
  const { t } = useTranslation();
  const { id = "" } = useParams();
  const { role } = useSession();
  const record = useRecord(kind, id);
  const timeline = useTimeline(kind, id);
  const users = useUsers();
  const tags = useTags();
  const update = useUpdateRecord(kind, id);
  const addNote = useAddNote(kind, id);
  const [editing, setEditing] = useState(false);
  const [note, setNote] = useState("");
  const userMap = new Map<string, User>((users.data?.items ?? []).map((user) => [user.id, user]));
  const editable = can(role, `${kind}:update`);
  if (record.isPending) {
    return (
      <Center h={200}>
        <Loader aria-label={t("records.loading")} />
      </Center>
    );
  }
  if (record.error || !record.data) return <ProblemAlert error={record.error} />;
  const data = record.data;
  return (
    <Stack>
      <Anchor component={Link} to={`/${kind}`} size="sm">
        <Group gap={4}>
          <IconArrowLeft size={14} aria-hidden />
          {t(`${kind}.title`)}
        </Group>
      </Anchor>
      <Group justify="space-between">
        <Group>
          <Title order={1}>{data.name}</Title>
          {kind === "leads" && <Badge variant="outline" color="gray.8">{t(`leads.status.${data.status ?? "new"}`)}</Badge>}
        </Group>
        {editable && (
          <Button variant="light" leftSection={<IconEdit size={16} aria-hidden />} onClick={() => setEditing(true)}>
            {t("records.edit")}
          </Button>
        )}
      </Group>
      <Grid>
        <Grid.Col span={{ base: 12, md: 7 }}>
          <Stack>
            <Fields kind={kind} record={data} />
            <Card withBorder>
              <Stack gap="sm">
                <TagsInput
                  label={t("fields.tags")}
                  data={(tags.data?.items ?? []).map((tag) => tag.name)}
                  value={data.tags}
                  disabled={!editable || update.isPending}
                  onChange={(next) => update.mutate({ patch: { tags: next }, version: data.version })}
                />
                {userMap.size > 0 && (
                  <Select
                    label={t("fields.owner")}
                    clearable
                    placeholder={t("records.unassigned")}
                    data={[...userMap.values()].map((user) => ({ value: user.id, label: user.name }))}
                    value={data.owner_id}
                    disabled={!editable || update.isPending}
                    onChange={(owner) => update.mutate({ patch: { owner_id: owner }, version: data.version })}
                  />
                )}
                {update.error && <ProblemAlert error={update.error} />}
              </Stack>
            </Card>
          </Stack>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 5 }}>
          <Card withBorder>
            <Stack>
              <Title order={2} size="h4">
                {t("timeline.title")}
              </Title>
              {editable && (
                <form
                  onSubmit={(event) => {
                    event.preventDefault();
                    if (note.trim()) addNote.mutate(note.trim(), { onSuccess: () => setNote("") });
                  }}
                >
                  <Stack gap="xs">
                    <Textarea
                      label={t("timeline.newNote")}
                      autosize
                      minRows={2}
                      value={note}
                      onChange={(event) => setNote(event.currentTarget.value)}
                    />
                    {addNote.error && <ProblemAlert error={addNote.error} />}
                    <Group justify="flex-end">
                      <Button type="submit" size="xs" loading={addNote.isPending}>
                        {t("timeline.addNote")}
                      </Button>
                    </Group>
                  </Stack>
                </form>
              )}
              {timeline.data && timeline.data.items.length === 0 && <Text c="dimmed">{t("timeline.empty")}</Text>}
              <Timeline bulletSize={12} lineWidth={2}>
                {(timeline.data?.items ?? []).map((item) => (
                  <TimelineEntry key={`${item.type}-${item.id}`} item={item} users={userMap} />
                ))}
              </Timeline>
            </Stack>
          </Card>
        </Grid.Col>
      </Grid>
      {editing && <RecordFormModal kind={kind} record={data} onClose={() => setEditing(false)} />}
    </Stack>
  );
}
