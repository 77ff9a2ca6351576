import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api/client";
import { unwrap } from "@/lib/api/problem";
import { endSession, startSession, storedRefreshToken, type LoginAnswer } from "@/lib/auth/session";

export interface Credentials {
  email: string;
  password: string;
  tenant?: string;
  totp_code?: string;
  recovery_code?: string;
}

export function useLogin() {
  return useMutation({
    mutationFn: async (credentials: Credentials) => {
      const body = Object.fromEntries(
        Object.entries(credentials).filter(([, value]) => value !== undefined && value !== ""),
      ) as unknown as Credentials;
      return unwrap<LoginAnswer>(api.POST("/auth/login", { body }));
    },
    onSuccess: (answer) => startSession(answer),
  });
}

export interface SignUp {
  name: string;
  slug: string;
  owner: { name: string; email: string; password: string };
}

export function useSignUp() {
  const login = useLogin();
  return useMutation({
    mutationFn: async (signUp: SignUp) => {
      await unwrap(api.POST("/tenants", { body: signUp }));
      return login.mutateAsync({ email: signUp.owner.email, password: signUp.owner.password });
    },
  });
}

export function useLogout() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async () => {
      const token = storedRefreshToken();
      if (token) await api.POST("/auth/logout", { body: { refresh_token: token } });
    },
    onSettled: () => {
      endSession(false);
      client.clear();
    },
  });
}
