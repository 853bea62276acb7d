mod helpers;
mod keys;
mod oauth_and_audit;
mod policy;
mod remote;
mod secrets;
mod startup;
mod users_and_settings;
