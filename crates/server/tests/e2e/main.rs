mod admin_socket;
mod database_hold;
mod helpers;
mod startup;
