mod credentials;
mod exec_status;
mod generated;
mod mfa_prompt;
mod modes;
mod sts_faults;
