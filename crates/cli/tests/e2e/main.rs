mod helpers;
mod keys;
mod remote;
mod secrets;
mod startup;
mod users_and_settings;
