import { MantineProvider } from "@mantine/core";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import i18n from "@/lib/i18n";
import { Component as LoginPage } from "./LoginPage";

function renderLogin(path = "/login") {
  const router = createMemoryRouter([{ path: "/login", element: <LoginPage /> }], {
    initialEntries: [path],
  });
  render(
    <MantineProvider>
      <QueryClientProvider client={new QueryClient()}>
        <RouterProvider router={router} />
      </QueryClientProvider>
    </MantineProvider>,
  );
}

function problem(status: number, body: object) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/problem+json" },
  });
}

afterEach(() => {
  vi.unstubAllGlobals();
  void i18n.changeLanguage("pt-BR");
});

describe("LoginPage", { timeout: 20_000 }, () => {
  it("asks for the authentication code when the API says MFA is required", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => problem(401, { type: "https://crm.example.com/problems/mfa-required", title: "MFA required", status: 401 })),
    );
    renderLogin();
    await userEvent.type(screen.getByLabelText(/E-mail/, { selector: "input" }), "ana@example.com");
    await userEvent.type(screen.getByLabelText(/Senha/, { selector: "input" }), "a long password here");
    await userEvent.click(screen.getByRole("button", { name: "Entrar" }));
    expect(await screen.findByLabelText("Código de autenticação")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Usar um código de recuperação" }));
    expect(screen.getByLabelText("Código de recuperação")).toBeInTheDocument();
  });

  it("shows a 422's message under the field it names, in English", async () => {
    await i18n.changeLanguage("en");
    vi.stubGlobal(
      "fetch",
      vi.fn(async () =>
        problem(422, {
          title: "Validation failed",
          status: 422,
          errors: [{ loc: ["body", "email"], msg: "value is not a valid email address", type: "value_error" }],
        }),
      ),
    );
    renderLogin("/login?expired=1");
    expect(screen.getByRole("status")).toHaveTextContent("Your session has ended");
    await userEvent.type(screen.getByLabelText(/^Email/, { selector: "input" }), "nope");
    await userEvent.type(screen.getByLabelText(/^Password/, { selector: "input" }), "whatever");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByText("value is not a valid email address")).toBeInTheDocument();
    expect(screen.getByLabelText(/^Email/, { selector: "input" })).toHaveAttribute("aria-invalid", "true");
  });
});
