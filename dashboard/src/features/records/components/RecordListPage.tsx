import { ActionIcon, Button, Center, Group, Loader, Select, Stack, TextInput, Title } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { IconPlus, IconSearch, IconSortAscending, IconSortDescending } from "@tabler/icons-react";
import { useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { useSearchParams } from "react-router";
import { ProblemAlert } from "@/components/ProblemAlert";
import { can } from "@/lib/auth/permissions";
import { useSession } from "@/lib/auth/useSession";
import { useRecordList, useTags, useUsers } from "../api/records";
import { LEAD_STATUSES, type ListParams, type RecordKind, type User } from "../api/types";
import { RecordFormModal } from "./RecordForm";
import { RecordTable } from "./RecordTable";

type Sort = ListParams["sort"];

/** Leads and contacts lists: search, filters and sort live in the URL (shareable views). */
export function RecordListPage({ kind }: { kind: RecordKind }) {
  const { t } = useTranslation();
  const { role } = useSession();
  const [search, setSearch] = useSearchParams();
  const [text, setText] = useState(search.get("q") ?? "");
  const [q] = useDebouncedValue(text, 300);
  const [creating, setCreating] = useState(false);
  const params: ListParams = {
    q: q.trim() || undefined,
    status: search.get("status") ?? undefined,
    tag: search.get("tag") ?? undefined,
    owner_id: search.get("owner") ?? undefined,
    sort: (search.get("sort") as Sort | null) ?? "created_at",
    order: search.get("order") === "asc" ? "asc" : "desc",
  };
  const list = useRecordList(kind, params);
  const users = useUsers();
  const tags = useTags();
  const userMap = useMemo(
    () => new Map<string, User>((users.data?.items ?? []).map((user) => [user.id, user])),
    [users.data],
  );
  const records = useMemo(() => list.data?.pages.flatMap((page) => page.items) ?? [], [list.data]);
  const setParam = (name: string, value: string | null) => {
    const next = new URLSearchParams(search);
    if (value) next.set(name, value);
    else next.delete(name);
    setSearch(next, { replace: true });
  };
  const sorts: Sort[] = kind === "leads" ? ["created_at", "updated_at", "name", "score"] : ["created_at", "updated_at", "name"];
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>{t(`${kind}.title`)}</Title>
        {can(role, `${kind}:create`) && (
          <Button leftSection={<IconPlus size={16} aria-hidden />} onClick={() => setCreating(true)}>
            {t(`${kind}.new`)}
          </Button>
        )}
      </Group>
      <Group gap="sm" align="end" wrap="wrap">
        <TextInput
          label={t("records.search")}
          placeholder={t("records.searchHint")}
          leftSection={<IconSearch size={16} aria-hidden />}
          value={text}
          onChange={(event) => {
            setText(event.currentTarget.value);
            setParam("q", event.currentTarget.value || null);
          }}
          w={260}
        />
        {kind === "leads" && (
          <Select
            label={t("fields.status")}
            placeholder={t("records.any")}
            clearable
            data={LEAD_STATUSES.map((status) => ({ value: status, label: t(`leads.status.${status}`) }))}
            value={params.status ?? null}
            onChange={(value) => setParam("status", value)}
            w={160}
          />
        )}
        <Select
          label={t("fields.tags")}
          placeholder={t("records.any")}
          clearable
          searchable
          data={(tags.data?.items ?? []).map((tag) => tag.name)}
          value={params.tag ?? null}
          onChange={(value) => setParam("tag", value)}
          w={160}
        />
        {userMap.size > 0 && (
          <Select
            label={t("fields.owner")}
            placeholder={t("records.any")}
            clearable
            data={[...userMap.values()].map((user) => ({ value: user.id, label: user.name }))}
            value={params.owner_id ?? null}
            onChange={(value) => setParam("owner", value)}
            w={180}
          />
        )}
        <Select
          label={t("records.sort")}
          data={sorts.map((sort) => ({ value: sort, label: t(`records.sortBy.${sort}`) }))}
          value={params.sort}
          onChange={(value) => setParam("sort", value)}
          allowDeselect={false}
          w={170}
        />
        <ActionIcon
          variant="default"
          size="lg"
          mb={2}
          aria-label={params.order === "asc" ? t("records.ascending") : t("records.descending")}
          onClick={() => setParam("order", params.order === "asc" ? "desc" : "asc")}
        >
          {params.order === "asc" ? <IconSortAscending size={18} /> : <IconSortDescending size={18} />}
        </ActionIcon>
      </Group>
      {list.error && <ProblemAlert error={list.error} />}
      {list.isPending ? (
        <Center h={200}>
          <Loader aria-label={t("records.loading")} />
        </Center>
      ) : (
        <RecordTable
          kind={kind}
          records={records}
          users={userMap}
          hasMore={Boolean(list.hasNextPage)}
          loadingMore={list.isFetchingNextPage}
          onLoadMore={() => void list.fetchNextPage()}
        />
      )}
      {creating && <RecordFormModal kind={kind} onClose={() => setCreating(false)} />}
    </Stack>
  );
}
