import {
  Alert,
  Anchor,
  Button,
  Checkbox,
  Group,
  Modal,
  MultiSelect,
  NumberInput,
  Select,
  SimpleGrid,
  Stack,
  TagsInput,
  TextInput,
} from "@mantine/core";
import { useForm } from "@mantine/form";
import { useTranslation } from "react-i18next";
import { Link, useNavigate } from "react-router";
import { ProblemAlert } from "@/components/ProblemAlert";
import { ApiError } from "@/lib/api/problem";
import { showFieldErrors } from "@/lib/api/useProblemForm";
import { useCreateRecord, useCustomFields, useTags, useUpdateRecord, useUsers } from "../api/records";
import { LEAD_STATUSES, type CrmRecord, type CustomFieldDefinition, type RecordKind } from "../api/types";

interface Values {
  name: string;
  email: string;
  phone: string;
  company: string;
  job_title: string;
  source: string;
  status: string;
  lost_reason: string;
  score: number | string;
  owner_id: string | null;
  tags: string[];
  custom_fields: Record<string, unknown>;
}

function initial(record?: CrmRecord): Values {
  return {
    name: record?.name ?? "",
    email: record?.email ?? "",
    phone: record?.phone ?? "",
    company: record?.company ?? "",
    job_title: record?.job_title ?? "",
    source: record?.source ?? "",
    status: record?.status ?? "new",
    lost_reason: record?.lost_reason ?? "",
    score: record?.score ?? "",
    owner_id: record?.owner_id ?? null,
    tags: record?.tags ?? [],
    custom_fields: { ...(record?.custom_fields ?? {}) },
  };
}

const TEXT_FIELDS = ["name", "email", "phone", "company"] as const;

/** The body of a POST (only what is filled in) or a PATCH (only what changed; "" -> null). */
function body(kind: RecordKind, values: Values, before?: Values): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields: (keyof Values)[] = [
    ...TEXT_FIELDS,
    ...(kind === "leads"
      ? (["source", "status", "lost_reason", "score"] as const)
      : (["job_title"] as const)),
    "owner_id",
    "tags",
  ];
  for (const field of fields) {
    const value = values[field];
    const normalised = value === "" ? null : value;
    if (before) {
      if (JSON.stringify(before[field]) !== JSON.stringify(value)) out[field] = normalised;
    } else if (normalised !== null && !(Array.isArray(value) && value.length === 0)) {
      out[field] = normalised;
    }
  }
  if (!before && kind === "leads" && values.status === "new") delete out.status;
  const custom: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values.custom_fields)) {
    const changed = !before || JSON.stringify(before.custom_fields[key]) !== JSON.stringify(value);
    if (changed && (before || (value !== "" && value !== null))) custom[key] = value === "" ? null : value;
  }
  if (Object.keys(custom).length > 0) out.custom_fields = custom;
  return out;
}

function CustomFieldInput({ definition, form }: { definition: CustomFieldDefinition; form: ReturnType<typeof useForm<Values>> }) {
  const path = `custom_fields.${definition.key}`;
  const props = { label: definition.label, required: definition.required, key: form.key(path), ...form.getInputProps(path) };
  switch (definition.type) {
    case "number":
      return <NumberInput {...props} />;
    case "select":
      return <Select {...props} data={definition.options ?? []} clearable />;
    case "multi-select":
      return <MultiSelect {...props} data={definition.options ?? []} />;
    case "bool":
      return <Checkbox mt="lg" {...form.getInputProps(path, { type: "checkbox" })} label={definition.label} />;
    case "date":
      return <TextInput {...props} type="date" />;
    default:
      return <TextInput {...props} />;
  }
}

export function RecordFormModal({ kind, record, onClose }: { kind: RecordKind; record?: CrmRecord; onClose: () => void }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const create = useCreateRecord(kind);
  const update = useUpdateRecord(kind, record?.id ?? "");
  const users = useUsers();
  const tags = useTags();
  const definitions = useCustomFields(kind);
  const before = record ? initial(record) : undefined;
  const form = useForm<Values>({ initialValues: initial(record) });
  const mutation = record ? update : create;
  const submit = form.onSubmit((values) => {
    const payload = body(kind, values, before);
    const onError = (error: Error) => showFieldErrors(form, error);
    if (record) {
      update.mutate({ patch: payload, version: record.version }, { onSuccess: onClose, onError });
    } else {
      create.mutate(payload as { name: string }, {
        onSuccess: (created) => navigate(`/${kind}/${created.id}`),
        onError,
      });
    }
  });
  const error = mutation.error;
  const duplicate = error instanceof ApiError && error.status === 409 ? (error.problem.existing_id as string | undefined) : undefined;
  const conflict = error instanceof ApiError && error.status === 412;
  const hasFieldErrors = Object.keys(form.errors).length > 0;
  return (
    <Modal opened onClose={onClose} title={record ? t("records.edit") : t(`${kind}.new`)} size="lg">
      <form onSubmit={submit} noValidate>
        <Stack>
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <TextInput label={t("fields.name")} required data-autofocus {...form.getInputProps("name")} />
            <TextInput label={t("fields.email")} type="email" {...form.getInputProps("email")} />
            <TextInput label={t("fields.phone")} type="tel" {...form.getInputProps("phone")} />
            <TextInput label={t("fields.company")} {...form.getInputProps("company")} />
            {kind === "contacts" && <TextInput label={t("fields.jobTitle")} {...form.getInputProps("job_title")} />}
            {kind === "leads" && (
              <>
                <TextInput label={t("fields.source")} {...form.getInputProps("source")} />
                <Select
                  label={t("fields.status")}
                  data={LEAD_STATUSES.filter((s) => s !== "converted" || record?.status === "converted").map((status) => ({
                    value: status,
                    label: t(`leads.status.${status}`),
                  }))}
                  allowDeselect={false}
                  {...form.getInputProps("status")}
                />
                {form.values.status === "lost" && (
                  <TextInput label={t("fields.lostReason")} {...form.getInputProps("lost_reason")} />
                )}
                <NumberInput label={t("fields.score")} min={0} max={100} {...form.getInputProps("score")} />
              </>
            )}
            {(users.data?.items.length ?? 0) > 0 && (
              <Select
                label={t("fields.owner")}
                clearable
                placeholder={t("records.unassigned")}
                data={(users.data?.items ?? []).map((user) => ({ value: user.id, label: user.name }))}
                {...form.getInputProps("owner_id")}
              />
            )}
            <TagsInput
              label={t("fields.tags")}
              data={(tags.data?.items ?? []).map((tag) => tag.name)}
              {...form.getInputProps("tags")}
            />
            {(definitions.data?.items ?? []).map((definition) => (
              <CustomFieldInput key={definition.key} definition={definition} form={form} />
            ))}
          </SimpleGrid>
          {duplicate && (
            <Alert color="yellow" title={t("records.duplicate")} role="alert">
              <Anchor component={Link} to={`/${kind}/${duplicate}`} onClick={onClose}>
                {t("records.openExisting")}
              </Anchor>
            </Alert>
          )}
          {conflict && (
            <Alert color="yellow" title={t("records.conflict")} role="alert">
              {t("records.conflictHint")}
            </Alert>
          )}
          {error && !duplicate && !conflict && !hasFieldErrors && <ProblemAlert error={error} />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              {t("actions.cancel")}
            </Button>
            <Button type="submit" loading={mutation.isPending}>
              {t("actions.save")}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
