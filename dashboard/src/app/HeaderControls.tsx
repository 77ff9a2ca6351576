import { ActionIcon, Button, Group, SegmentedControl, useMantineColorScheme } from "@mantine/core";
import { IconLogout, IconMoon, IconSun } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import { useLogout } from "@/features/auth/api/auth";
import { LANGUAGES } from "@/lib/i18n";

export function HeaderControls({ signedIn = false }: { signedIn?: boolean }) {
  const { t, i18n } = useTranslation();
  const { colorScheme, toggleColorScheme } = useMantineColorScheme();
  const logout = useLogout();
  const dark = colorScheme === "dark";
  return (
    <Group gap="xs" wrap="nowrap">
      <SegmentedControl
        size="xs"
        aria-label={t("app.language")}
        value={i18n.language}
        onChange={(language) => void i18n.changeLanguage(language)}
        data={LANGUAGES.map((language) => ({ value: language, label: t(`languages.${language}`) }))}
      />
      <ActionIcon
        variant="default"
        size="lg"
        onClick={toggleColorScheme}
        aria-label={dark ? t("app.lightMode") : t("app.darkMode")}
      >
        {dark ? <IconSun size={18} /> : <IconMoon size={18} />}
      </ActionIcon>
      {signedIn && (
        <Button
          variant="subtle"
          size="xs"
          leftSection={<IconLogout size={16} aria-hidden />}
          onClick={() => logout.mutate()}
          loading={logout.isPending}
        >
          {t("auth.logout")}
        </Button>
      )}
    </Group>
  );
}
