import { Button, Checkbox, Group, Select, Stack, TextInput } from "@mantine/core";
import { useForm } from "@mantine/form";
import { notifications } from "@mantine/notifications";
import { useTranslation } from "react-i18next";
import { ProblemAlert } from "@/components/ProblemAlert";
import { useTenantSettings, type TenantSettings } from "@/features/tenant/api/tenant";
import { showFieldErrors } from "@/lib/api/useProblemForm";
import { useUpdateTenant } from "../api/settings";

const LOCALES = ["pt-BR", "en-US", "es-ES", "en-GB"];
const CURRENCIES = ["BRL", "USD", "EUR", "GBP"];

function TenantForm({ settings, editable }: { settings: TenantSettings; editable: boolean }) {
  const { t } = useTranslation();
  const update = useUpdateTenant();
  const form = useForm({
    initialValues: {
      name: settings.name,
      timezone: settings.timezone,
      currency: settings.currency,
      locale: settings.locale,
      require_mfa: settings.require_mfa,
    },
  });
  const submit = form.onSubmit((values) =>
    update.mutate(
      { patch: values, version: settings.version },
      {
        onSuccess: () =>
          notifications.show({
            color: "green",
            message: t("settings.saved"),
            closeButtonProps: { "aria-label": t("actions.close") },
          }),
        onError: (error) => showFieldErrors(form, error),
      },
    ),
  );
  return (
    <form onSubmit={submit} noValidate>
      <Stack maw={480}>
        <TextInput label={t("fields.name")} disabled={!editable} {...form.getInputProps("name")} />
        <TextInput label={t("settings.timezone")} description="IANA, e.g. America/Sao_Paulo" disabled={!editable} {...form.getInputProps("timezone")} />
        <Select label={t("fields.currency")} data={CURRENCIES} searchable disabled={!editable} {...form.getInputProps("currency")} />
        <Select label={t("settings.locale")} data={LOCALES} searchable disabled={!editable} {...form.getInputProps("locale")} />
        <Checkbox label={t("settings.requireMfa")} disabled={!editable} {...form.getInputProps("require_mfa", { type: "checkbox" })} />
        {update.error && Object.keys(form.errors).length === 0 && <ProblemAlert error={update.error} />}
        {editable && (
          <Group>
            <Button type="submit" loading={update.isPending}>
              {t("actions.save")}
            </Button>
          </Group>
        )}
      </Stack>
    </form>
  );
}

export function TenantPanel({ editable }: { editable: boolean }) {
  const settings = useTenantSettings();
  if (!settings.data) return <ProblemAlert error={settings.error} />;
  return <TenantForm key={settings.data.version} settings={settings.data} editable={editable} />;
}
