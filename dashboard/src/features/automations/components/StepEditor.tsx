import { Button, Group, NumberInput, Select, Stack, TextInput, Textarea } from "@mantine/core";
import { useTranslation } from "react-i18next";
import type { Clause, Step } from "../api/workflow";

const OPS = ["eq", "ne", "gt", "gte", "lt", "lte", "contains", "exists"];
export const ACTION_KINDS = ["add_tag", "webhook", "send_email", "move_stage"] as const;

/** The form of one step; changes go straight back into the draft workflow. */
export function StepEditor({ step, onChange, onRemove }: { step: Step; onChange: (step: Step) => void; onRemove: () => void }) {
  const { t } = useTranslation();
  return (
    <Stack gap="xs">
      {step.type === "condition" && (() => {
        const clause: Clause = (step.when.all ?? step.when.any ?? [])[0] ?? { field: "", op: "eq", value: "" };
        const set = (next: Partial<Clause>) => onChange({ ...step, when: { all: [{ ...clause, ...next }] } });
        return (
          <>
            <TextInput label={t("automations.field")} placeholder="lead.source" value={clause.field} onChange={(e) => set({ field: e.currentTarget.value })} />
            <Select label={t("automations.operator")} data={OPS} value={clause.op} onChange={(op) => op && set({ op })} allowDeselect={false} />
            {clause.op !== "exists" && (
              <TextInput label={t("fields.value")} value={String(clause.value ?? "")} onChange={(e) => set({ value: e.currentTarget.value })} />
            )}
          </>
        );
      })()}
      {step.type === "delay" && (
        <NumberInput label={t("automations.seconds")} min={1} value={step.seconds} onChange={(value) => onChange({ ...step, seconds: Number(value) || 0 })} />
      )}
      {step.type === "action" && (
        <>
          <Select
            label={t("automations.actionKind")}
            data={ACTION_KINDS.map((kind) => ({ value: kind, label: t(`automations.kind.${kind}`) }))}
            value={step.action.kind}
            onChange={(kind) => kind && onChange({ ...step, action: { kind } })}
            allowDeselect={false}
          />
          {step.action.kind === "add_tag" && (
            <TextInput label={t("automations.tag")} value={String(step.action.tag ?? "")} onChange={(e) => onChange({ ...step, action: { ...step.action, tag: e.currentTarget.value } })} />
          )}
          {step.action.kind === "webhook" && (
            <TextInput label="URL" value={String(step.action.url ?? "")} onChange={(e) => onChange({ ...step, action: { ...step.action, url: e.currentTarget.value } })} />
          )}
          {step.action.kind === "send_email" && (
            <>
              <TextInput label={t("automations.to")} placeholder="{{lead.email}}" value={String(step.action.to ?? "")} onChange={(e) => onChange({ ...step, action: { ...step.action, to: e.currentTarget.value } })} />
              <TextInput label={t("automations.subject")} value={String(step.action.subject ?? "")} onChange={(e) => onChange({ ...step, action: { ...step.action, subject: e.currentTarget.value } })} />
              <Textarea label={t("automations.body")} value={String(step.action.body ?? "")} onChange={(e) => onChange({ ...step, action: { ...step.action, body: e.currentTarget.value } })} />
            </>
          )}
          {step.action.kind === "move_stage" && (
            <>
              <TextInput label={t("automations.pipelineId")} value={String(step.action.pipeline_id ?? "")} onChange={(e) => onChange({ ...step, action: { ...step.action, pipeline_id: e.currentTarget.value } })} />
              <TextInput label={t("automations.stageId")} value={String(step.action.stage_id ?? "")} onChange={(e) => onChange({ ...step, action: { ...step.action, stage_id: e.currentTarget.value } })} />
            </>
          )}
        </>
      )}
      <Group justify="flex-end">
        <Button variant="subtle" color="red" size="xs" onClick={onRemove}>
          {t("automations.removeStep")}
        </Button>
      </Group>
    </Stack>
  );
}
