import { Anchor, Badge, Center, Group, Loader, Table, Text } from "@mantine/core";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useRef } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { formatDateTime } from "@/lib/format";
import { useTenantFormat } from "@/features/tenant/api/tenant";
import type { CrmRecord, RecordKind, User } from "../api/types";

const ROW_HEIGHT = 44;

interface Props {
  kind: RecordKind;
  records: CrmRecord[];
  users: Map<string, User>;
  hasMore: boolean;
  loadingMore: boolean;
  onLoadMore: () => void;
}

/**
 * The list as a real table (headers, rows) whose body renders only the rows in view: 10,000
 * leads keep the DOM at a few dozen rows. Scrolling near the end asks for the next page.
 */
export function RecordTable({ kind, records, users, hasMore, loadingMore, onLoadMore }: Props) {
  const { t } = useTranslation();
  const format = useTenantFormat();
  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: records.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
  });
  const items = virtualizer.getVirtualItems();
  const last = items[items.length - 1];
  useEffect(() => {
    if (last && last.index >= records.length - 20 && hasMore && !loadingMore) onLoadMore();
  }, [last, records.length, hasMore, loadingMore, onLoadMore]);

  const top = items[0]?.start ?? 0;
  const bottom = virtualizer.getTotalSize() - (last?.end ?? 0);
  const columns = kind === "leads" ? 6 : 6;
  return (
    <div
      ref={scroller}
      style={{ height: "calc(100vh - 260px)", minHeight: 320, overflow: "auto" }}
      tabIndex={0}
      role="region"
      aria-label={t(`${kind}.title`)}
    >
      <Table stickyHeader highlightOnHover verticalSpacing="xs" miw={720}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t("fields.name")}</Table.Th>
            <Table.Th>{t("fields.email")}</Table.Th>
            <Table.Th>{t("fields.company")}</Table.Th>
            <Table.Th>{kind === "leads" ? t("fields.status") : t("fields.jobTitle")}</Table.Th>
            <Table.Th>{t("fields.owner")}</Table.Th>
            <Table.Th>{t("fields.createdAt")}</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {top > 0 && (
            <tr aria-hidden style={{ height: top }}>
              <td colSpan={columns} />
            </tr>
          )}
          {items.map((item) => {
            const record = records[item.index] as CrmRecord;
            return (
              <Table.Tr key={record.id} style={{ height: ROW_HEIGHT }}>
                <Table.Td>
                  <Anchor component={Link} to={`/${kind}/${record.id}`} fw={500}>
                    {record.name}
                  </Anchor>
                  {record.tags.length > 0 && (
                    <Group gap={4} display="inline-flex" ml="xs">
                      {record.tags.slice(0, 3).map((tag) => (
                        <Badge key={tag} size="xs" variant="light">
                          {tag}
                        </Badge>
                      ))}
                    </Group>
                  )}
                </Table.Td>
                <Table.Td>{record.email ?? "—"}</Table.Td>
                <Table.Td>{record.company ?? "—"}</Table.Td>
                <Table.Td>
                  {kind === "leads" ? (
                    <Badge variant="outline" color="gray.8">
                      {t(`leads.status.${record.status ?? "new"}`)}
                    </Badge>
                  ) : (
                    (record.job_title ?? "—")
                  )}
                </Table.Td>
                <Table.Td>
                  {record.owner_id ? (users.get(record.owner_id)?.name ?? "…") : t("records.unassigned")}
                </Table.Td>
                <Table.Td>{formatDateTime(record.created_at, format)}</Table.Td>
              </Table.Tr>
            );
          })}
          {bottom > 0 && (
            <tr aria-hidden style={{ height: bottom }}>
              <td colSpan={columns} />
            </tr>
          )}
        </Table.Tbody>
      </Table>
      {loadingMore && (
        <Center p="sm">
          <Loader size="sm" aria-label={t("records.loadingMore")} />
        </Center>
      )}
      {records.length === 0 && (
        <Text c="dimmed" ta="center" p="xl">
          {t("records.empty")}
        </Text>
      )}
    </div>
  );
}
