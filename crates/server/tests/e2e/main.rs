mod helpers;
mod startup;
