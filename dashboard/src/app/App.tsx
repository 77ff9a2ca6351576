import {
  type CSSVariablesResolver,
  MantineProvider,
  createTheme,
  localStorageColorSchemeManager,
} from "@mantine/core";
import { Notifications } from "@mantine/notifications";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider } from "react-router";
import { ApiError } from "@/lib/api/problem";
import { router } from "./router";

const theme = createTheme({
  primaryColor: "indigo",
  fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
  // Darker shades keep white text on primary buttons above WCAG AA contrast.
  primaryShade: { light: 7, dark: 8 },
});

// Mantine's default dimmed grey is below WCAG AA contrast on white (axe: color-contrast).
const cssVariablesResolver: CSSVariablesResolver = () => ({
  variables: {},
  light: {
    "--mantine-color-dimmed": "var(--mantine-color-gray-7)",
    "--mantine-color-error": "var(--mantine-color-red-8)",
    "--mantine-primary-color-light-color": "var(--mantine-color-indigo-9)",
    "--mantine-color-indigo-light-color": "var(--mantine-color-indigo-9)",
    "--mantine-color-red-light-color": "var(--mantine-color-red-9)",
    "--mantine-color-green-light-color": "var(--mantine-color-green-9)",
    "--mantine-color-blue-light-color": "var(--mantine-color-blue-9)",
    "--mantine-color-yellow-light-color": "var(--mantine-color-yellow-9)",
    "--mantine-color-gray-light-color": "var(--mantine-color-gray-8)",
  },
  dark: {},
});

const colorSchemeManager = localStorageColorSchemeManager({ key: "crm.color-scheme" });

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 15_000,
      retry: (failures, error) =>
        !(error instanceof ApiError && error.status < 500) && failures < 2,
      refetchOnWindowFocus: false,
    },
  },
});

export function App() {
  return (
    <MantineProvider theme={theme} colorSchemeManager={colorSchemeManager}
      cssVariablesResolver={cssVariablesResolver}
      defaultColorScheme="light">
      <Notifications position="top-right" />
      <QueryClientProvider client={queryClient}>
        <RouterProvider router={router} />
      </QueryClientProvider>
    </MantineProvider>
  );
}
