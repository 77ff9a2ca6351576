import { Card, Text } from "@mantine/core";
import { useDraggable } from "@dnd-kit/core";
import { CSS } from "@dnd-kit/utilities";
import { useTenantFormat } from "@/features/tenant/api/tenant";
import { formatMoney } from "@/lib/format";
import type { Deal } from "../api/board";

export function DealCard({ deal, disabled }: { deal: Deal; disabled: boolean }) {
  const format = useTenantFormat();
  const { attributes, listeners, setNodeRef, transform, isDragging } = useDraggable({
    id: deal.id,
    data: { deal },
    disabled,
  });
  return (
    <Card
      ref={setNodeRef}
      withBorder
      padding="sm"
      radius="sm"
      data-testid={`deal-${deal.id}`}
      style={{
        transform: CSS.Translate.toString(transform),
        opacity: isDragging ? 0.6 : 1,
        cursor: disabled ? "default" : "grab",
        touchAction: "none",
        zIndex: isDragging ? 10 : undefined,
        position: "relative",
      }}
      {...listeners}
      {...attributes}
      aria-label={deal.title}
    >
      <Text fw={500} size="sm">
        {deal.title}
      </Text>
      <Text size="xs" c="dimmed">
        {formatMoney(deal.value, deal.currency, format)}
      </Text>
    </Card>
  );
}
