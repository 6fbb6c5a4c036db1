mod credentials;
mod exec_status;
mod mfa_prompt;
mod sts_faults;
