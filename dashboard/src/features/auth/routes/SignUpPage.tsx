import { Anchor, Button, PasswordInput, Stack, Text, TextInput } from "@mantine/core";
import { useForm } from "@mantine/form";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { ProblemAlert } from "@/components/ProblemAlert";
import { showFieldErrors } from "@/lib/api/useProblemForm";
import { useSignUp } from "../api/auth";

function slugify(name: string): string {
  return name
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
}

export function Component() {
  const { t } = useTranslation();
  const signUp = useSignUp();
  const form = useForm({
    initialValues: { name: "", slug: "", owner: { name: "", email: "", password: "" } },
  });
  const submit = form.onSubmit((values) =>
    signUp.mutate(values, { onError: (error) => showFieldErrors(form, error) }),
  );
  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        <Text component="h2" fw={600} size="lg" ta="center" m={0}>
          {t("auth.signupTitle")}
        </Text>
        <TextInput
          label={t("auth.companyName")}
          required
          {...form.getInputProps("name")}
          onChange={(event) => {
            const name = event.currentTarget.value;
            form.setFieldValue("name", name);
            if (!form.isTouched("slug")) form.setFieldValue("slug", slugify(name));
          }}
        />
        <TextInput label={t("auth.tenantSlug")} required {...form.getInputProps("slug")} />
        <TextInput label={t("fields.yourName")} required {...form.getInputProps("owner.name")} />
        <TextInput label={t("fields.email")} type="email" autoComplete="username" required {...form.getInputProps("owner.email")} />
        <PasswordInput
          label={t("fields.password")}
          description={t("auth.passwordHint")}
          autoComplete="new-password"
          required
          {...form.getInputProps("owner.password")}
        />
        {signUp.error && Object.keys(form.errors).length === 0 && <ProblemAlert error={signUp.error} />}
        <Button type="submit" loading={signUp.isPending}>
          {t("auth.signup")}
        </Button>
        <Text size="sm" ta="center">
          {t("auth.haveAccount")}{" "}
          <Anchor component={Link} to="/login">
            {t("auth.login")}
          </Anchor>
        </Text>
      </Stack>
    </form>
  );
}
