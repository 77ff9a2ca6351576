import { Badge, Group, Paper, ScrollArea, Stack, Text } from "@mantine/core";
import { useDroppable } from "@dnd-kit/core";
import { useTranslation } from "react-i18next";
import { useTenantFormat } from "@/features/tenant/api/tenant";
import { formatMoney } from "@/lib/format";
import type { BoardColumn } from "../api/board";
import { DealCard } from "./DealCard";

export function StageColumn({ column, readOnly }: { column: BoardColumn; readOnly: boolean }) {
  const { t } = useTranslation();
  const format = useTenantFormat();
  const { setNodeRef, isOver } = useDroppable({ id: column.id, data: { column } });
  const totals = Object.entries(column.value_by_currency);
  return (
    <Paper
      ref={setNodeRef}
      withBorder
      p="sm"
      miw={150}
      style={{ flex: "1 1 0" }}
      role="group"
      aria-label={column.name}
      data-testid={`stage-${column.name}`}
      bg={isOver ? "var(--mantine-primary-color-light)" : "var(--mantine-color-default-hover)"}
    >
      <Stack gap="xs">
        <Group justify="space-between" wrap="nowrap">
          <Text fw={600} size="sm" truncate title={column.name}>
            {column.name}
          </Text>
          <Badge variant="light" style={{ flexShrink: 0 }} aria-label={t("board.dealCount", { count: column.deal_count })}>
            {column.deal_count}
          </Badge>
        </Group>
        <Text size="xs" c="dimmed">
          {totals.length === 0
            ? formatMoney(0, format.currency, format)
            : totals.map(([currency, value]) => formatMoney(value, currency, format)).join(" · ")}
        </Text>
        <ScrollArea.Autosize mah="calc(100vh - 280px)" type="auto">
          <Stack gap="xs" mih={80}>
            {column.deals.items.map((deal) => (
              <DealCard key={deal.id} deal={deal} disabled={readOnly} />
            ))}
          </Stack>
        </ScrollArea.Autosize>
      </Stack>
    </Paper>
  );
}
