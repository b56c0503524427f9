"""What the two HTTP adapters (controller/api, controller/web) share: the services bundle
they are built around and the HTTP rules both answer by. Neither adapter imports the other."""
