mod credentials;
mod exec_status;
mod mfa_prompt;
mod modes;
mod sts_faults;
