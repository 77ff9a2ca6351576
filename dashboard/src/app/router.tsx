import { createBrowserRouter } from "react-router";
import { AppLayout } from "./AppLayout";
import { PublicLayout } from "./PublicLayout";
import { RouteError } from "./RouteError";

// Each page is its own chunk (route-level code splitting): the first load carries the shell and
// the login page only; the board's drag-and-drop, the charts and the flow editor come with
// their pages.
export const router = createBrowserRouter(
  [
    {
      element: <PublicLayout />,
      errorElement: <RouteError />,
      children: [
        { path: "login", lazy: () => import("@/features/auth/routes/LoginPage") },
        { path: "signup", lazy: () => import("@/features/auth/routes/SignUpPage") },
      ],
    },
    {
      element: <AppLayout />,
      errorElement: <RouteError />,
      children: [
        { index: true, lazy: () => import("@/features/overview/routes/OverviewPage") },
        { path: "leads", lazy: () => import("@/features/leads/routes/LeadsPage") },
        { path: "leads/:id", lazy: () => import("@/features/leads/routes/LeadDetailPage") },
        { path: "contacts", lazy: () => import("@/features/contacts/routes/ContactsPage") },
        {
          path: "contacts/:id",
          lazy: () => import("@/features/contacts/routes/ContactDetailPage"),
        },
        { path: "pipeline", lazy: () => import("@/features/pipeline/routes/BoardPage") },
        { path: "reports", lazy: () => import("@/features/reports/routes/ReportsPage") },
        { path: "automations", lazy: () => import("@/features/automations/routes/AutomationsPage") },
        {
          path: "automations/:id",
          lazy: () => import("@/features/automations/routes/AutomationEditorPage"),
        },
        { path: "settings", lazy: () => import("@/features/settings/routes/SettingsPage") },
        { path: "*", lazy: () => import("./NotFoundPage") },
      ],
    },
  ],
  { basename: "/app" },
);
