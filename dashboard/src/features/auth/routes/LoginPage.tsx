import { Alert, Anchor, Button, PasswordInput, Stack, Text, TextInput } from "@mantine/core";
import { useForm } from "@mantine/form";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useSearchParams } from "react-router";
import { ProblemAlert } from "@/components/ProblemAlert";
import { ApiError } from "@/lib/api/problem";
import { showFieldErrors } from "@/lib/api/useProblemForm";
import { useLogin } from "../api/auth";

export function Component() {
  const { t } = useTranslation();
  const [params] = useSearchParams();
  const login = useLogin();
  const [needsCode, setNeedsCode] = useState(false);
  const [recovery, setRecovery] = useState(false);
  const form = useForm({
    initialValues: { email: "", password: "", tenant: "", totp_code: "", recovery_code: "" },
  });
  const submit = form.onSubmit((values) =>
    login.mutate(values, {
      onError: (error) => {
        if (error instanceof ApiError && error.problem.type?.endsWith("mfa-required")) {
          setNeedsCode(true);
          return;
        }
        showFieldErrors(form, error);
      },
    }),
  );
  const fieldsShown = login.error instanceof ApiError && login.error.status === 422;
  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        <Title>{t("auth.loginTitle")}</Title>
        {params.get("expired") && (
          <Alert color="yellow" role="status">
            {t("auth.sessionExpired")}
          </Alert>
        )}
        <TextInput label={t("fields.email")} type="email" autoComplete="username" required {...form.getInputProps("email")} />
        <PasswordInput
          label={t("fields.password")}
          autoComplete="current-password"
          required
          {...form.getInputProps("password")}
        />
        <TextInput label={t("auth.tenantSlug")} description={t("auth.tenantSlugHint")} {...form.getInputProps("tenant")} />
        {needsCode && !recovery && (
          <TextInput
            label={t("auth.totpCode")}
            inputMode="numeric"
            autoComplete="one-time-code"
            {...form.getInputProps("totp_code")}
          />
        )}
        {needsCode && recovery && <TextInput label={t("auth.recoveryCode")} {...form.getInputProps("recovery_code")} />}
        {needsCode && (
          <Anchor component="button" type="button" size="sm" onClick={() => setRecovery(!recovery)}>
            {recovery ? t("auth.useTotp") : t("auth.useRecovery")}
          </Anchor>
        )}
        {login.error && !fieldsShown && !(needsCode && login.error instanceof ApiError && login.error.problem.type?.endsWith("mfa-required")) && (
          <ProblemAlert error={login.error} />
        )}
        <Button type="submit" loading={login.isPending}>
          {t("auth.login")}
        </Button>
        <Text size="sm" ta="center">
          {t("auth.noAccount")}{" "}
          <Anchor component={Link} to={`/signup?${params.toString()}`}>
            {t("auth.signup")}
          </Anchor>
        </Text>
      </Stack>
    </form>
  );
}

function Title({ children }: { children: string }) {
  return (
    <Text component="h2" fw={600} size="lg" ta="center" m={0}>
      {children}
    </Text>
  );
}
