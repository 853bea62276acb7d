mod database_hold;
mod helpers;
mod startup;
