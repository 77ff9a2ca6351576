import {
  Alert,
  Button,
  Center,
  Group,
  Loader,
  Modal,
  ScrollArea,
  Select,
  Stack,
  TextInput,
  Title,
} from "@mantine/core";
import {
  DndContext,
  KeyboardSensor,
  PointerSensor,
  useSensor,
  useSensors,
  type DragEndEvent,
} from "@dnd-kit/core";
import { notifications } from "@mantine/notifications";
import { IconPlus } from "@tabler/icons-react";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useSearchParams } from "react-router";
import { ProblemAlert } from "@/components/ProblemAlert";
import { can } from "@/lib/auth/permissions";
import { useSession } from "@/lib/auth/useSession";
import { isConflict, useBoard, useCreateDeal, useMoveDeal, usePipelines, type Deal, type Move } from "../api/board";
import { StageColumn } from "../components/StageColumn";

function NewDealModal({ pipelineId, onClose }: { pipelineId: string; onClose: () => void }) {
  const { t } = useTranslation();
  const create = useCreateDeal(pipelineId);
  const [title, setTitle] = useState("");
  const [value, setValue] = useState("");
  return (
    <Modal opened onClose={onClose} title={t("board.newDeal")}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          create.mutate({ title, value: value || "0" }, { onSuccess: onClose });
        }}
      >
        <Stack>
          <TextInput label={t("fields.title")} required value={title} onChange={(e) => setTitle(e.currentTarget.value)} data-autofocus />
          <TextInput label={t("fields.value")} inputMode="decimal" value={value} onChange={(e) => setValue(e.currentTarget.value)} />
          {create.error && <ProblemAlert error={create.error} />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              {t("actions.cancel")}
            </Button>
            <Button type="submit" loading={create.isPending}>
              {t("actions.save")}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function LostReasonModal({ onConfirm, onClose }: { onConfirm: (reason: string) => void; onClose: () => void }) {
  const { t } = useTranslation();
  const [reason, setReason] = useState("");
  return (
    <Modal opened onClose={onClose} title={t("board.lostTitle")}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (reason.trim()) onConfirm(reason.trim());
        }}
      >
        <Stack>
          <TextInput label={t("fields.lostReason")} required value={reason} onChange={(e) => setReason(e.currentTarget.value)} data-autofocus />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              {t("actions.cancel")}
            </Button>
            <Button type="submit" color="red">
              {t("board.markLost")}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

export function Component() {
  const { t } = useTranslation();
  const { role } = useSession();
  const [search, setSearch] = useSearchParams();
  const pipelines = usePipelines();
  const pipelineId =
    search.get("pipeline") ??
    pipelines.data?.items.find((p) => p.is_default)?.id ??
    pipelines.data?.items[0]?.id;
  const board = useBoard(pipelineId);
  const move = useMoveDeal(pipelineId);
  const [pendingLost, setPendingLost] = useState<Move | null>(null);
  const [creating, setCreating] = useState(false);
  const sensors = useSensors(
    useSensor(PointerSensor, { activationConstraint: { distance: 5 } }),
    useSensor(KeyboardSensor),
  );
  const readOnly = !can(role, "deals:update");

  const submitMove = (next: Move) =>
    move.mutate(next, {
      onError: (error) =>
        notifications.show({
          color: isConflict(error) ? "yellow" : "red",
          title: isConflict(error) ? t("board.conflict") : t("errors.request"),
          message: isConflict(error) ? t("board.conflictHint") : error.message,
          closeButtonProps: { "aria-label": t("actions.close") },
        }),
    });

  const onDragEnd = (event: DragEndEvent) => {
    const deal = event.active.data.current?.deal as Deal | undefined;
    const toStage = event.over?.id as string | undefined;
    if (!deal || !toStage || toStage === deal.stage_id) return;
    const column = board.data?.stages.find((stage) => stage.id === toStage);
    if (column?.kind === "lost") setPendingLost({ deal, toStage });
    else submitMove({ deal, toStage });
  };

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>{t("board.title")}</Title>
        <Group>
          {(pipelines.data?.items.length ?? 0) > 1 && (
            <Select
              aria-label={t("board.pipeline")}
              data={(pipelines.data?.items ?? []).map((p) => ({ value: p.id, label: p.name }))}
              value={pipelineId ?? null}
              onChange={(value) => value && setSearch({ pipeline: value })}
              allowDeselect={false}
            />
          )}
          {can(role, "deals:create") && pipelineId && (
            <Button leftSection={<IconPlus size={16} aria-hidden />} onClick={() => setCreating(true)}>
              {t("board.newDeal")}
            </Button>
          )}
        </Group>
      </Group>
      {(pipelines.error || board.error) && <ProblemAlert error={pipelines.error ?? board.error} />}
      {readOnly && <Alert color="gray">{t("board.readOnly")}</Alert>}
      {board.isPending ? (
        <Center h={200}>
          <Loader aria-label={t("records.loading")} />
        </Center>
      ) : (
        <ScrollArea type="auto" offsetScrollbars>
          <DndContext sensors={sensors} onDragEnd={onDragEnd}>
            <Group align="flex-start" wrap="nowrap" gap="sm" pb="sm">
              {(board.data?.stages ?? []).map((column) => (
                <StageColumn key={column.id} column={column} readOnly={readOnly} />
              ))}
            </Group>
          </DndContext>
        </ScrollArea>
      )}
      {pendingLost && (
        <LostReasonModal
          onClose={() => setPendingLost(null)}
          onConfirm={(lostReason) => {
            submitMove({ ...pendingLost, lostReason });
            setPendingLost(null);
          }}
        />
      )}
      {creating && pipelineId && <NewDealModal pipelineId={pipelineId} onClose={() => setCreating(false)} />}
    </Stack>
  );
}
